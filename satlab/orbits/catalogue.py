"""Element-set catalogues: TLE / 3LE / OMM (JSON, CSV, XML) files and the SATCAT join.

A :class:`Catalogue` is a pandas table, one row per element set (a history file keeps
every epoch of an object), plus the matching :class:`sgp4.api.Satrec` objects. Rows carry
TLE lines (OMM records are exported with :func:`sgp4.exporter.export_tle`) so a catalogue
writes back to a 3LE file; only OMM objects numbered above 339999, which no TLE can hold,
have empty lines.
"""

from __future__ import annotations

import html
import io
import json
import warnings
from math import pi
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import CatalogueError, InputError, MissingFileError, SatlabWarning

__all__ = ["Catalogue", "read_satcat", "read_tle"]

EARTH_RADIUS_KM = 6378.135  # WGS72, the constants SGP4 element sets are fitted with
_UNIX_JD = 2440587.5
ALPHA5_MAX = 339999  # the largest catalogue number a TLE (Alpha-5) can carry
_ERRORS = ("raise", "skip")

# Space-Track's OBJECT_TYPE words; CelesTrak's SATCAT uses the short codes.
_OBJECT_TYPES = {
    "PAY": "PAYLOAD",
    "R/B": "ROCKET BODY",
    "DEB": "DEBRIS",
    "UNK": "UNKNOWN",
}
# Space-Track's RCS_SIZE classes by radar cross-section [m^2]: SMALL < 0.1 <= MEDIUM < 1 <= LARGE
_RCS_EDGES = (0.1, 1.0)


def _read_source(path_or_text) -> tuple[str, str]:
    """(text, label for messages) from a path, a file object or the text itself."""
    if hasattr(path_or_text, "read"):
        text = path_or_text.read()
        label = getattr(path_or_text, "name", "<stream>")
    elif isinstance(path_or_text, Path) or (
        isinstance(path_or_text, str)
        and "\n" not in path_or_text
        and not path_or_text.lstrip().startswith(("[", "{", "<"))
    ):
        path = Path(path_or_text)
        if not path.is_file():
            raise MissingFileError(f"{path}: no such TLE/OMM file")
        text, label = path.read_bytes(), str(path)
    elif isinstance(path_or_text, str):
        text, label = path_or_text, "<text>"
    else:
        raise InputError(
            f"path_or_text: expected a path, a file object or TLE/OMM text, got "
            f"{type(path_or_text).__name__}"
        )
    if isinstance(text, bytes):
        text = text.decode("utf-8-sig", errors="replace")
    return text, label


# --- TLE / 3LE --------------------------------------------------------------------------

# The punch-card layout, field by field: (name, first column, end column, pattern), 0-based.
# satlab checks it itself because the compiled Satrec.twoline2rv stops reading a number at
# the first stray character without complaint ("15.7212X391" becomes 15.7212), and
# sgp4.io's checked reader also runs the pure-Python initialiser, ~50x slower.
_FLOAT_3_4 = r"[ 0-9]{3}\.[0-9 ]{4}"
_EXP = r"[ +-][0-9 ]{5}[+-][0-9]"
_FIELDS = {
    1: (
        ("catalogue number", 2, 7, r"[0-9A-Z ][0-9 ]{3}[0-9]"),
        ("classification", 7, 8, r"[A-Z ]"),
        ("international designator", 9, 17, r"[ -~]{8}"),
        ("epoch", 18, 32, r"[0-9 ]{5}\.[0-9 ]{8}"),
        ("first derivative of the mean motion", 33, 43, r"[ +-]\.[0-9 ]{8}"),
        ("second derivative of the mean motion", 44, 52, _EXP),
        ("BSTAR", 53, 61, _EXP),
        ("ephemeris type", 62, 63, r"[0-9 ]"),
        ("element set number", 64, 68, r"[0-9 ]{4}"),
    ),
    2: (
        ("catalogue number", 2, 7, r"[0-9A-Z ][0-9 ]{3}[0-9]"),
        ("inclination", 8, 16, _FLOAT_3_4),
        ("right ascension of the node", 17, 25, _FLOAT_3_4),
        ("eccentricity", 26, 33, r"[0-9 ]{7}"),
        ("argument of perigee", 34, 42, _FLOAT_3_4),
        ("mean anomaly", 43, 51, _FLOAT_3_4),
        ("mean motion", 52, 63, r"[ 0-9]{2}\.[0-9 ]{8}"),
        ("revolution number", 63, 68, r"[0-9 ]{5}"),
    ),
}


def _line_pattern(number: int):
    """One regex for columns 1-68 of a line: the fields, single spaces between them."""
    import re

    out, col = [str(number)], 1
    for _, start, end, pattern in _FIELDS[number]:
        out.append(" " * (start - col) + f"(?:{pattern})")
        col = end
    return re.compile("".join(out) + " " * (68 - col))


_LINE_RE = {n: _line_pattern(n) for n in (1, 2)}


def _checksums(lines: list[str]) -> np.ndarray:
    """sgp4.io.compute_checksum (digits plus one per minus sign over columns 1-68, modulo
    10) for many lines at once through a byte lookup table: sgp4's per-character
    generator took most of the time of reading 30,000 element sets."""
    lut = np.zeros(256, dtype=np.int64)
    lut[ord("0") : ord("9") + 1] = np.arange(10)
    lut[ord("-")] = 1
    body = "".join(ln[:68].ljust(68) for ln in lines).encode("ascii", errors="replace")
    codes = np.frombuffer(body, dtype=np.uint8).reshape(len(lines), 68)
    return lut[codes].sum(axis=1) % 10


def _line_problem(line: str, number: int, tally: int | None) -> str | None:
    """What is wrong with one TLE line; ``tally`` is its computed checksum (None: skip)."""
    import re

    if len(line) < 69:
        return f"line {number} has {len(line)} characters, expected 69"
    if not line.isascii():
        return f"line {number} contains non-ASCII characters"
    if not _LINE_RE[number].fullmatch(line[:68]):
        for name, start, end, pattern in _FIELDS[number]:
            if not re.fullmatch(pattern, line[start:end]):
                return (
                    f"line {number} field '{name}' (columns {start + 1}-{end}) is "
                    f"{line[start:end]!r}, not in the TLE format"
                )
        return f"line {number} does not follow the TLE column layout (spacing)"
    if tally is not None:
        if not line[68].isdigit():
            return f"line {number} has no checksum digit in column 69"
        if int(line[68]) != tally:
            return f"line {number} checksum is {line[68]}, the line tallies to {tally}"
    return None


def _elements_problem(sat) -> str | None:
    if not 0.0 <= sat.ecco < 1.0:
        return f"eccentricity {sat.ecco} is outside [0, 1)"
    if not 0.0 <= sat.inclo <= pi:
        return f"inclination {np.degrees(sat.inclo):.4f} deg is outside [0, 180]"
    if not sat.no_kozai > 0.0:
        return f"mean motion {sat.no_kozai} rad/min is not positive"
    if sat.error:
        return f"sgp4 initialisation failed with error code {sat.error}"
    return None


def _parse_tle_text(text: str, label: str, errors: str, checksum: bool):
    """Records (name, line1, line2, satrec) from TLE/3LE text, with per-entry problems."""
    from sgp4.api import Satrec

    lines = [(i + 1, raw.rstrip()) for i, raw in enumerate(text.splitlines())]
    lines = [(n, s) for n, s in lines if s.strip() and not s.lstrip().startswith("#")]
    tallies = _checksums([s for _, s in lines]) if checksum and lines else None
    records, problems = [], []
    i = 0
    while i < len(lines):
        lineno, line = lines[i]
        name = ""
        if not line.startswith(("1 ", "2 ")):  # a name line: "0 NAME" (3LE) or plain "NAME"
            name = line[2:].strip() if line.startswith("0 ") or line == "0" else line.strip()
            i += 1
            if i >= len(lines):
                problems.append((f"line {lineno}", f"name line {name!r} is not followed by a TLE"))
                break
            lineno, line = lines[i]
        if not line.startswith("1 ") or i + 1 >= len(lines):
            what = "the file ends" if line.startswith("1 ") else f"found {line[:20]!r}"
            problems.append((f"line {lineno}", f"expected TLE line 1 followed by line 2; {what}"))
            i += 1
            continue
        _, line2 = lines[i + 1]
        t1, t2 = (None, None) if tallies is None else (int(tallies[i]), int(tallies[i + 1]))
        i += 2
        if not line2.startswith("2 "):
            problems.append((f"line {lineno + 1}", f"expected TLE line 2, found {line2[:20]!r}"))
            i -= 1  # resynchronise on the line we just refused
            continue
        problem = _line_problem(line, 1, t1) or _line_problem(line2, 2, t2)
        if problem is None and line[2:7] != line2[2:7]:
            problem = f"catalogue numbers differ: {line[2:7]!r} on line 1, {line2[2:7]!r} on 2"
        if problem is None:
            try:
                sat = Satrec.twoline2rv(line[:69], line2[:69])
            except (ValueError, RuntimeError) as exc:
                problem = f"sgp4 cannot parse the element set ({exc})"
            else:
                problem = _elements_problem(sat)
        if problem:
            problems.append((f"line {lineno}", problem))
            continue
        records.append((name, line[:69], line2[:69], sat))
    return records, _report(problems, label, errors, len(records))


def _report(problems, label, errors, kept) -> int:
    if not problems:
        return 0
    if errors == "raise":
        where, msg = problems[0]
        more = f" (and {len(problems) - 1} more problem(s))" if len(problems) > 1 else ""
        raise CatalogueError(f"{label}: {where}: {msg}{more}")
    where, msg = problems[0]
    warnings.warn(
        f"{label}: skipped {len(problems)} malformed element set(s), kept {kept}; "
        f"first at {where}: {msg}",
        SatlabWarning,
        stacklevel=4,
    )
    return len(problems)


# --- OMM --------------------------------------------------------------------------------

_OMM_DEFAULTS = {
    "CLASSIFICATION_TYPE": "U",
    "EPHEMERIS_TYPE": "0",
    "ELEMENT_SET_NO": "999",
    "REV_AT_EPOCH": "0",
    "MEAN_MOTION_DDOT": "0",
    "OBJECT_ID": "",
}
_OMM_REQUIRED = (
    "NORAD_CAT_ID",
    "EPOCH",
    "MEAN_MOTION",
    "ECCENTRICITY",
    "INCLINATION",
    "RA_OF_ASC_NODE",
    "ARG_OF_PERICENTER",
    "MEAN_ANOMALY",
    "BSTAR",
    "MEAN_MOTION_DOT",
)


def _omm_records_json(text, label):
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise CatalogueError(f"{label}: not valid OMM JSON ({exc})") from exc
    if isinstance(data, dict):
        data = [data]
    if not isinstance(data, list) or not all(isinstance(r, dict) for r in data):
        raise CatalogueError(f"{label}: expected a JSON list of OMM objects")
    return data


def _omm_records_xml(text, label):
    import xml.etree.ElementTree as ET

    try:
        root = ET.fromstring(text)
    except ET.ParseError as exc:
        raise CatalogueError(f"{label}: not valid OMM XML ({exc})") from exc
    for el in root.iter():  # drop namespaces: CCSDS NDM files may declare one
        el.tag = el.tag.rpartition("}")[2]
    records = []
    for segment in root.iter("segment"):
        fields = {}
        for part in (
            "metadata",
            "data/meanElements",
            "data/tleParameters",
            "data/userDefinedParameters",
        ):
            node = segment.find(part)
            if node is not None:
                fields.update((f.tag, (f.text or "").strip()) for f in node)
        records.append(fields)
    return records


def _omm_satrec(fields: dict):
    """A Satrec from one OMM record (CCSDS / Space-Track / CelesTrak field names)."""
    from sgp4 import omm
    from sgp4.api import Satrec

    fields = {k.upper(): ("" if v is None else str(v).strip()) for k, v in fields.items()}
    missing = [k for k in _OMM_REQUIRED if not fields.get(k)]
    if missing:
        raise ValueError(f"missing field(s) {missing}")
    for key, value in _OMM_DEFAULTS.items():
        if not fields.get(key):
            fields[key] = value
    # sgp4's omm.initialize wants fractional seconds and Alpha-5-sized catalogue numbers
    epoch = fields["EPOCH"].rstrip("Z")
    if "." not in epoch:
        epoch += ".000000"
    fields["EPOCH"] = epoch
    norad = int(float(fields["NORAD_CAT_ID"]))
    if norad < 1:
        raise ValueError(f"NORAD_CAT_ID {norad} is not a catalogue number")
    # sgp4 keeps Alpha-5 numbers only (up to 339999); larger ones live in the table alone
    fields["NORAD_CAT_ID"] = str(norad if norad <= ALPHA5_MAX else 0)
    ecc = float(fields["ECCENTRICITY"])
    if not 0.0 <= ecc < 1.0:
        raise ValueError(f"ECCENTRICITY {ecc} is outside [0, 1)")
    sat = Satrec()
    omm.initialize(sat, fields)
    return sat


def _parse_omm(records, label, errors):
    from sgp4.exporter import export_tle

    out, problems = [], []
    for n, fields in enumerate(records, start=1):
        upper = {k.upper(): v for k, v in fields.items()}
        try:
            sat = _omm_satrec(upper)
            problem = _elements_problem(sat)
            if problem:
                raise ValueError(problem)
            norad = int(float(upper["NORAD_CAT_ID"]))
            line1, line2 = export_tle(sat) if norad <= ALPHA5_MAX else ("", "")
        except (ValueError, KeyError, TypeError) as exc:
            problems.append((f"OMM record {n}", str(exc)))
            continue
        name = str(upper.get("OBJECT_NAME") or "").strip()
        out.append((name, line1, line2, sat, upper, norad))
    return out, _report(problems, label, errors, len(out))


# --- the catalogue ----------------------------------------------------------------------

_SATCAT_COLUMNS = ("object_type", "rcs_size", "launch_date", "decay_date")


def _epoch64(sat) -> np.datetime64:
    days = (sat.jdsatepoch - _UNIX_JD) + sat.jdsatepochF
    return np.datetime64(round(days * 86400e6), "us")


def _table(records, source: str) -> pd.DataFrame:
    """The catalogue table; a record's sixth item, if any, is its catalogue number."""
    sats = [r[3] for r in records]
    table = pd.DataFrame(
        {
            "norad_id": np.array(
                [r[5] if len(r) > 5 else r[3].satnum for r in records], dtype=np.int64
            ),
            "name": [r[0] for r in records],
            "epoch": pd.to_datetime(
                np.array([_epoch64(s) for s in sats], dtype="datetime64[us]")
            ).astype("datetime64[ns]"),
            "line1": [r[1] for r in records],
            "line2": [r[2] for r in records],
            "intl_designator": [s.intldesg.strip() for s in sats],
            "inclination_deg": np.degrees([s.inclo for s in sats]),
            "raan_deg": np.degrees([s.nodeo for s in sats]),
            "eccentricity": np.array([s.ecco for s in sats], dtype=float),
            "mean_motion_rev_day": np.array([s.no_kozai for s in sats]) * 1440 / (2 * pi),
            "bstar": np.array([s.bstar for s in sats], dtype=float),
            "perigee_km": np.array([s.altp for s in sats]) * EARTH_RADIUS_KM,
            "apogee_km": np.array([s.alta for s in sats]) * EARTH_RADIUS_KM,
        }
    )
    table["source"] = source
    return table


class Catalogue:
    """Element sets over a pandas table; build one with :func:`read_tle`.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per element set: ``norad_id``, ``name``, ``epoch`` (datetime64, UTC),
        ``line1``, ``line2``, ``intl_designator``, ``inclination_deg``, ``raan_deg``,
        ``eccentricity``, ``mean_motion_rev_day``, ``bstar``, ``perigee_km`` and
        ``apogee_km`` (altitudes above the WGS72 equatorial radius), ``source``; after a
        SATCAT join also ``object_type``, ``rcs_size``, ``rcs_m2``, ``launch_date``,
        ``decay_date``.
    """

    def __init__(self, table: pd.DataFrame, satrecs):
        satrecs = np.asarray(satrecs, dtype=object)
        if len(table) != len(satrecs):
            raise InputError(
                f"Catalogue: table has {len(table)} rows but {len(satrecs)} element sets"
            )
        self.table = table.reset_index(drop=True)
        self._satrecs = satrecs

    # construction -----------------------------------------------------------------------
    @classmethod
    def from_lines(cls, line1s, line2s, names=None) -> Catalogue:
        """A catalogue from parallel sequences of TLE lines (and optional names)."""
        names = [""] * len(line1s) if names is None else list(names)
        text = "\n".join(
            f"0 {n}\n{a}\n{b}" if n else f"{a}\n{b}"
            for n, a, b in zip(names, line1s, line2s, strict=True)
        )
        return read_tle(text)

    # access -----------------------------------------------------------------------------
    @property
    def satrecs(self) -> np.ndarray:
        """The :class:`sgp4.api.Satrec` of each row (object array)."""
        return self._satrecs

    @property
    def norad_ids(self) -> np.ndarray:
        """Distinct catalogue numbers, in order of first appearance."""
        return pd.unique(self.table["norad_id"].to_numpy())

    def take(self, rows) -> Catalogue:
        """The catalogue restricted to positional ``rows`` (ints or a boolean mask)."""
        rows = np.asarray(rows)
        if rows.dtype == bool:
            rows = np.flatnonzero(rows)
        return Catalogue(self.table.iloc[rows], self._satrecs[rows])

    def select(self, norad_ids) -> Catalogue:
        """Only the element sets of the given catalogue numbers."""
        return self.take(self.table["norad_id"].isin(np.atleast_1d(norad_ids)).to_numpy())

    def latest(self) -> Catalogue:
        """One element set per object: the most recent epoch."""
        order = self.table.sort_values(["norad_id", "epoch"]).index
        last = self.table.loc[order].drop_duplicates("norad_id", keep="last").index
        return self.take(np.sort(last.to_numpy()))

    def satcat(self, path_or_table) -> Catalogue:
        """This catalogue joined with SATCAT metadata.

        ``path_or_table`` is a SATCAT file (see :func:`read_satcat`), a table in its
        columns (Space-Track or CelesTrak names, e.g. a ``csv`` catalogue entry) or one
        :func:`read_satcat` returned.
        """
        if isinstance(path_or_table, pd.DataFrame):
            meta = (
                path_or_table
                if "norad_id" in path_or_table
                else _satcat_frame(path_or_table, "SATCAT table")
            )
        else:
            meta = read_satcat(path_or_table)
        table = self.table.drop(
            columns=[c for c in meta.columns if c != "norad_id"], errors="ignore"
        )
        table = table.merge(meta.drop_duplicates("norad_id"), on="norad_id", how="left")
        if (table["name"] == "").any() and "satcat_name" in table:
            table["name"] = table["name"].mask(table["name"] == "", table["satcat_name"])
        table = table.drop(columns=["satcat_name"], errors="ignore")
        return Catalogue(table, self._satrecs)

    def to_tle(self) -> str:
        """The catalogue as 3LE text (``0 NAME`` lines, Space-Track style).

        Objects numbered above 339999 (OMM only) have no TLE form: they are left out
        with a :class:`~satlab.errors.SatlabWarning`.
        """
        t = self.table
        blank = t["line1"] == ""
        if blank.any():
            warnings.warn(
                f"to_tle: {int(blank.sum())} element set(s) numbered above {ALPHA5_MAX} "
                "have no TLE form and are left out",
                SatlabWarning,
                stacklevel=2,
            )
        t = t[~blank]
        return "".join(
            f"0 {n}\n{a}\n{b}\n" if n else f"{a}\n{b}\n"
            for n, a, b in zip(t["name"], t["line1"], t["line2"], strict=True)
        )

    # display ----------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.table)

    def __repr__(self) -> str:
        n_obj = self.table["norad_id"].nunique()
        if not len(self):
            return "<satlab Catalogue: empty>"
        return (
            f"<satlab Catalogue: {len(self)} element sets, {n_obj} objects, epochs "
            f"{self.table['epoch'].min():%Y-%m-%d} .. {self.table['epoch'].max():%Y-%m-%d}>"
        )

    def _repr_html_(self) -> str:
        cols = [
            c
            for c in (
                "norad_id",
                "name",
                "epoch",
                "perigee_km",
                "apogee_km",
                "inclination_deg",
                *_SATCAT_COLUMNS,
            )
            if c in self.table
        ]
        head = html.escape(repr(self))
        return f"<p>{head}</p>" + self.table[cols].head(20).to_html(index=False, max_rows=20)


def read_tle(
    path_or_text, *, errors: str = "raise", satcat=None, checksum: bool = True
) -> Catalogue:
    """Read element sets: TLE, 3LE, or OMM JSON / CSV / XML (Space-Track or CelesTrak).

    Parameters
    ----------
    path_or_text : str, pathlib.Path or file object
        A file, or the text itself (any string with a line break). The format is told
        from the content: ``[``/``{`` JSON, ``<`` XML, a header with ``EPOCH`` CSV,
        otherwise 2-line or 3-line TLE (``0 NAME`` or plain name lines). Alpha-5
        catalogue numbers, OMM numbers above 339999 (kept in the table; sgp4 itself
        refuses them), Space-Track's all-string JSON, epochs without fractional seconds
        and history files (many epochs per object) are accepted.
    errors : {"raise", "skip"}
        ``"raise"`` stops at the first malformed element set with a
        :class:`~satlab.errors.CatalogueError` naming the file and line (OMM: record);
        ``"skip"`` drops such sets and warns once with the counts.
    satcat : str, pathlib.Path or pandas.DataFrame, optional
        SATCAT file to join (see :func:`read_satcat`).
    checksum : bool
        Verify the modulo-10 checksum of every TLE line.

    Returns
    -------
    Catalogue
        Empty (with a :class:`~satlab.errors.SatlabWarning`) if nothing was found.
    """
    if errors not in _ERRORS:
        raise InputError(f"errors: expected one of {_ERRORS}, got {errors!r}")
    text, label = _read_source(path_or_text)
    head = text.lstrip()[:1]
    first_line = text.lstrip().split("\n", 1)[0].upper()
    extra = None
    if head in "[{" and head:
        records, _ = _parse_omm(_omm_records_json(text, label), label, errors)
        extra = [r[4] for r in records]
    elif head == "<":
        records, _ = _parse_omm(_omm_records_xml(text, label), label, errors)
        extra = [r[4] for r in records]
    elif "EPOCH" in first_line and "," in first_line:
        rows = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False).to_dict("records")
        records, _ = _parse_omm(rows, label, errors)
        extra = [r[4] for r in records]
    elif "NORAD_CAT_ID" in first_line or "OBJECT_TYPE" in first_line:
        raise CatalogueError(
            f"{label}: this is a SATCAT table, not element sets; pass it as satcat="
        )
    else:
        records, _ = _parse_tle_text(text, label, errors, checksum)
    cat = Catalogue(_table(records, label), [r[3] for r in records])
    if extra:  # Space-Track GP records carry SATCAT fields too
        meta = _satcat_frame(pd.DataFrame(extra), label, required=False)
        if meta is not None:
            cat = cat.satcat(meta)
    if not len(cat):
        warnings.warn(f"{label}: no element sets found", SatlabWarning, stacklevel=2)
    if satcat is not None:
        cat = cat.satcat(satcat)
    return cat


def _satcat_frame(raw: pd.DataFrame, label: str, *, required: bool = True) -> pd.DataFrame | None:
    cols = {c.upper().strip(): c for c in raw.columns}

    def pick(*names):
        for n in names:
            if n in cols:
                return raw[cols[n]]
        return None

    norad = pick("NORAD_CAT_ID", "NORAD_ID", "OBJECT_NUMBER")
    if norad is None:
        if required:
            raise CatalogueError(
                f"{label}: expected a SATCAT table with a NORAD_CAT_ID (or norad_id) column, "
                f"got columns {list(raw.columns)[:12]}"
            )
        return None
    out = pd.DataFrame({"norad_id": pd.to_numeric(norad, errors="coerce")})
    otype = pick("OBJECT_TYPE")
    size = pick("RCS_SIZE")
    rcs = pick("RCS", "RCSVALUE", "RCS_M2")
    launch = pick("LAUNCH_DATE", "LAUNCH")
    decay = pick("DECAY_DATE", "DECAY")
    if not required and otype is None and size is None and launch is None:
        return None
    if otype is not None:
        otype = otype.astype("string").str.strip().str.upper()
        out["object_type"] = otype.replace(_OBJECT_TYPES).replace("", pd.NA)
    else:
        out["object_type"] = pd.Series(pd.NA, index=out.index, dtype="string")
    rcs_m2 = pd.to_numeric(rcs, errors="coerce") if rcs is not None else None
    if rcs_m2 is not None:
        # Space-Track publishes RCSVALUE 0 for "not public": not a size
        rcs_m2 = rcs_m2.where(rcs_m2 > 0)
        out["rcs_m2"] = rcs_m2
    if size is not None:
        out["rcs_size"] = size.astype("string").str.strip().str.upper().replace("", pd.NA)
    elif rcs_m2 is not None:
        classes = pd.cut(
            rcs_m2, [0, *_RCS_EDGES, np.inf], labels=["SMALL", "MEDIUM", "LARGE"], right=False
        )
        out["rcs_size"] = classes.astype("string")
    else:
        out["rcs_size"] = pd.Series(pd.NA, index=out.index, dtype="string")
    for name, col in (("launch_date", launch), ("decay_date", decay)):
        values = col.replace("", None) if col is not None else None
        out[name] = pd.to_datetime(values, errors="coerce") if values is not None else pd.NaT
    sat_name = pick("OBJECT_NAME", "SATNAME", "NAME")
    if sat_name is not None:
        out["satcat_name"] = sat_name.astype(str).str.strip()
    bad = out["norad_id"].isna()
    if bad.any():
        raise CatalogueError(
            f"{label}: NORAD_CAT_ID row {int(np.flatnonzero(bad)[0]) + 2} is not a number"
        )
    out["norad_id"] = out["norad_id"].astype(np.int64)
    return out


def read_satcat(path_or_text) -> pd.DataFrame:
    """Read a SATCAT CSV (Space-Track or CelesTrak) into satlab's columns.

    Parameters
    ----------
    path_or_text : str, pathlib.Path or file object
        Space-Track (``OBJECT_TYPE``, ``RCS_SIZE``, ``LAUNCH``, ``DECAY``) or CelesTrak
        (``OBJECT_TYPE`` codes ``PAY``/``R/B``/``DEB``/``UNK``, numeric ``RCS`` [m^2],
        ``LAUNCH_DATE``, ``DECAY_DATE``) column names, any case.

    Returns
    -------
    pandas.DataFrame
        ``norad_id``, ``object_type`` (Space-Track words), ``rcs_size``
        (SMALL / MEDIUM / LARGE; from ``RCS`` [m^2] when only that is given), ``rcs_m2``
        where known, ``launch_date``, ``decay_date`` (datetime64, NaT if unknown).
    """
    text, label = _read_source(path_or_text)
    try:
        raw = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise CatalogueError(f"{label}: not a readable SATCAT CSV ({exc})") from exc
    return _satcat_frame(raw, label)
