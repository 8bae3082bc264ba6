"""satlab.orbits catalogues: TLE / 3LE / OMM parsing, checksums, errors, SATCAT join."""

import json
import os
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import sgp4
from sgp4.io import compute_checksum

from satlab.errors import CatalogueError, InputError, MissingFileError, SatlabWarning
from satlab.orbits import Catalogue, read_satcat, read_tle

VER_TLE = os.path.join(os.path.dirname(sgp4.__file__), "SGP4-VER.TLE")
ISS1 = "1 25544U 98067A   08264.51782528 -.00002182  00000-0 -11606-4 0  2927"
ISS2 = "2 25544  51.6416 247.4627 0006703 130.5360 325.0288 15.72125391563537"


def with_checksum(line):
    return line[:68] + str(compute_checksum(line))


def omm_record(line1, line2, name, *, strings=False):
    """The OMM record CelesTrak / Space-Track publish for a TLE."""
    from sgp4.api import Satrec
    from sgp4.conveniences import sat_epoch_datetime

    s = Satrec.twoline2rv(line1, line2)
    rec = {
        "OBJECT_NAME": name,
        "OBJECT_ID": "1998-067A",
        "EPOCH": sat_epoch_datetime(s).strftime("%Y-%m-%dT%H:%M:%S.%f"),
        "MEAN_MOTION": s.no_kozai * 720 / np.pi,
        "ECCENTRICITY": s.ecco,
        "INCLINATION": np.degrees(s.inclo),
        "RA_OF_ASC_NODE": np.degrees(s.nodeo),
        "ARG_OF_PERICENTER": np.degrees(s.argpo),
        "MEAN_ANOMALY": np.degrees(s.mo),
        "EPHEMERIS_TYPE": 0,
        "CLASSIFICATION_TYPE": "U",
        "NORAD_CAT_ID": s.satnum,
        "ELEMENT_SET_NO": 999,
        "REV_AT_EPOCH": s.revnum,
        "BSTAR": s.bstar,
        "MEAN_MOTION_DOT": s.ndot * 1036800 / np.pi,
        "MEAN_MOTION_DDOT": 0.0,
    }
    if strings:  # Space-Track JSON: every value a string
        return {
            k: v if isinstance(v, str) else str(float(v) if isinstance(v, float) else v)
            for k, v in rec.items()
        }
    return rec


@pytest.fixture(scope="module")
def ver_valid():
    with pytest.warns(SatlabWarning, match="skipped 3 malformed"):
        return read_tle(VER_TLE, errors="skip")


def test_verification_file_reads_all_valid_sets(ver_valid):
    t = ver_valid.table
    assert len(ver_valid) == 30  # 33 entries, the 3 deliberately invalid ones dropped
    assert not set(t["norad_id"]) & {33333, 33334, 33335}
    assert (t["norad_id"] == 20413).sum() == 2  # a history: same object twice
    assert t["epoch"].dtype == np.dtype("datetime64[ns]")
    row = t[t["norad_id"] == 5].iloc[0]
    # 00179.78495062 -> 2000 day 179 (27 June) + 0.78495062 d
    assert row["epoch"] == pd.Timestamp("2000-06-27 18:50:19.733568")
    assert row["eccentricity"] == pytest.approx(0.1859667)
    assert row["inclination_deg"] == pytest.approx(34.2682)


def test_invalid_entries_raise_with_line_number():
    with pytest.raises(CatalogueError, match=r"SGP4-VER.TLE: line \d+: line 1 checksum is 4"):
        read_tle(VER_TLE)


def test_checksum_can_be_switched_off_for_hand_edited_sets():
    text = Path(VER_TLE).read_text()
    with pytest.warns(SatlabWarning, match="sgp4 initialisation failed with error code"):
        cat = read_tle(text[text.index("1 33333U") :], checksum=False, errors="skip")
    # 33334's mean motion is refused already when sgp4 initialises it
    assert cat.table["norad_id"].tolist()[:2] == [33333, 33335]


def test_three_line_and_two_line_forms():
    three = f"0 ISS (ZARYA)\n{ISS1}\n{ISS2}\n"
    celestrak = f"ISS (ZARYA)\n{ISS1}\n{ISS2}\n"
    two = f"{ISS1}\n{ISS2}\n"
    for text, name in ((three, "ISS (ZARYA)"), (celestrak, "ISS (ZARYA)"), (two, "")):
        cat = read_tle(text)
        assert len(cat) == 1
        assert cat.table.loc[0, "name"] == name
        assert cat.table.loc[0, "norad_id"] == 25544
        assert cat.table.loc[0, "line2"] == ISS2


def test_alpha5_catalogue_numbers():
    l1 = with_checksum(ISS1.replace("25544", "A0001"))
    l2 = with_checksum(ISS2.replace("25544", "A0001"))
    assert read_tle(f"{l1}\n{l2}\n").table.loc[0, "norad_id"] == 100001


def test_file_roundtrip_and_repr(tmp_path, ver_valid):
    path = tmp_path / "cat.3le"
    path.write_text(ver_valid.to_tle())
    back = read_tle(path)
    pd.testing.assert_frame_equal(
        back.table.drop(columns="source"), ver_valid.table.drop(columns="source")
    )
    assert "30 element sets, 29 objects" in repr(back)
    assert "<table" in back._repr_html_()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (f"{ISS1}\n", "line 1: expected TLE line 1 followed by line 2; the file ends"),
        (f"0 ISS\n{ISS1}\n", "line 2: expected TLE line 1 followed by line 2; the file ends"),
        (f"{ISS1}\n{ISS1}\n", "line 2: expected TLE line 2"),
        (f"{ISS1[:60]}\n{ISS2}\n", "line 1 has 60 characters, expected 69"),
        (f"{ISS1[:-1]}8\n{ISS2}\n", "line 1 checksum is 8, the line tallies to 7"),
        (f"{ISS1}\n{with_checksum(ISS2.replace('25544', '25545'))}\n", "catalogue numbers"),
        (f"{with_checksum(ISS1.replace('.51782528', ',51782528'))}\n{ISS2}\n", "field 'epoch'"),
        # stray characters that the compiled parser would silently stop reading at
        (
            f"{ISS1}\n{with_checksum(ISS2.replace('15.72125391', '15.7212X391'))}\n",
            r"line 2 field 'mean motion' \(columns 53-63\) is '15.7212X391'",
        ),
        (f"{with_checksum(ISS1.replace('-11606-4', '-1160X-4'))}\n{ISS2}\n", "field 'BSTAR'"),
        (f"{ISS1}\n{with_checksum(ISS2.replace(' 51.6416', ' 5O.6416'))}\n", "'inclination'"),
        (f"{ISS1}\n{with_checksum(ISS2.replace('0006703 ', '0006703x'))}\n", "spacing"),
        ("0 ISS\n", "not followed by a TLE"),
    ],
)
def test_malformed_tle_text_raises(text, message):
    with pytest.raises(CatalogueError, match=message):
        read_tle(text)


def test_skip_keeps_good_sets_and_counts_bad():
    text = f"0 A\n{ISS1}\n{ISS2}\n0 B\n{ISS1[:-1]}8\n{ISS2}\n0 C\n{ISS1}\n{ISS2}\n"
    with pytest.warns(SatlabWarning, match="skipped 1 malformed element set.*kept 2"):
        cat = read_tle(text, errors="skip")
    assert cat.table["name"].tolist() == ["A", "C"]


def test_bad_arguments():
    with pytest.raises(InputError, match="errors: expected one of"):
        read_tle(f"{ISS1}\n{ISS2}\n", errors="ignore")
    with pytest.raises(MissingFileError, match=r"no-such\.tle"):
        read_tle("no-such.tle")
    with pytest.warns(SatlabWarning, match="no element sets found"):
        empty = read_tle("\n\n# only a comment\n")
    assert len(empty) == 0
    assert list(empty.table.columns[:5]) == ["norad_id", "name", "epoch", "line1", "line2"]


@pytest.mark.parametrize("strings", [False, True])
def test_omm_json_matches_tle(ver_valid, strings):
    t = ver_valid.table.drop_duplicates("norad_id").head(8)
    records = [
        omm_record(a, b, f"OBJ {i}", strings=strings)
        for i, (a, b) in enumerate(zip(t["line1"], t["line2"], strict=True))
    ]
    cat = read_tle(json.dumps(records))
    assert cat.table["norad_id"].tolist() == t["norad_id"].tolist()
    assert cat.table["name"].tolist()[0] == "OBJ 0"
    for s_omm, s_tle in zip(cat.satrecs, ver_valid.take(t.index).satrecs, strict=True):
        e1, r1, _ = s_omm.sgp4(s_tle.jdsatepoch, s_tle.jdsatepochF + 0.5)
        e2, r2, _ = s_tle.sgp4(s_tle.jdsatepoch, s_tle.jdsatepochF + 0.5)
        assert e1 == e2 == 0
        assert np.linalg.norm(np.subtract(r1, r2)) < 1.0  # km, half a day after epoch
    # every row still carries valid TLE lines
    assert len(read_tle(cat.to_tle())) == len(cat)


def test_omm_csv_xml_and_space_track_quirks():
    rec = omm_record(ISS1, ISS2, "ISS (ZARYA)", strings=True)
    csv = pd.DataFrame([rec]).to_csv(index=False)
    xml_fields = "".join(f"<{k}>{v}</{k}>" for k, v in rec.items())
    xml = (
        '<ndm xmlns="urn:ccsds:ndm"><omm><body><segment><metadata>'
        f"{xml_fields}</metadata><data><meanElements/></data></segment></body></omm></ndm>"
    )
    ref = read_tle(f"{ISS1}\n{ISS2}\n").table.loc[0, "epoch"]
    for text in (csv, xml):
        cat = read_tle(text)
        assert cat.table.loc[0, "norad_id"] == 25544
        assert abs(cat.table.loc[0, "epoch"] - ref) < pd.Timedelta("1ms")
    # Space-Track: whole-second EPOCH and SATCAT fields inside GP records
    st = dict(
        rec,
        EPOCH="2008-09-20T12:25:40",
        OBJECT_TYPE="PAYLOAD",
        RCS_SIZE="LARGE",
        LAUNCH_DATE="1998-11-20",
        DECAY_DATE="",
    )
    cat = read_tle(json.dumps([st]))
    row = cat.table.loc[0]
    assert row["epoch"] == pd.Timestamp("2008-09-20T12:25:40")
    assert (row["object_type"], row["rcs_size"]) == ("PAYLOAD", "LARGE")
    assert row["launch_date"] == pd.Timestamp("1998-11-20") and pd.isna(row["decay_date"])


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"ECCENTRICITY": "1.2"}, "ECCENTRICITY 1.2 is outside"),
        ({"NORAD_CAT_ID": "0"}, "NORAD_CAT_ID 0 is not a catalogue number"),
        ({"EPOCH": ""}, "missing field"),
        ({"MEAN_MOTION": "fast"}, "OMM record 1"),
    ],
)
def test_bad_omm_records(change, message):
    rec = dict(omm_record(ISS1, ISS2, "ISS", strings=True), **change)
    with pytest.raises(CatalogueError, match=message):
        read_tle(json.dumps([rec]))
    with pytest.warns(SatlabWarning) as caught:
        assert len(read_tle(json.dumps([rec]), errors="skip")) == 0
    assert "skipped 1" in str(caught[0].message)
    assert "no element sets found" in str(caught[-1].message)


def test_satcat_join_space_track_and_celestrak(tmp_path, ver_valid):
    space_track = tmp_path / "satcat_st.csv"
    space_track.write_text(
        "INTLDES,NORAD_CAT_ID,OBJECT_TYPE,SATNAME,LAUNCH,DECAY,RCSVALUE,RCS_SIZE\n"
        "58-002B,5,PAYLOAD,VANGUARD 1,1958-03-17,,0,SMALL\n"
        "70-093B,4632,ROCKET BODY,SL-8 R/B,1970-10-20,2010-01-02,0,MEDIUM\n"
    )
    celestrak = tmp_path / "satcat_ct.csv"
    celestrak.write_text(
        "OBJECT_NAME,OBJECT_ID,NORAD_CAT_ID,OBJECT_TYPE,LAUNCH_DATE,DECAY_DATE,RCS\n"
        "VANGUARD 1,1958-002B,5,PAY,1958-03-17,,0.122\n"
        "SL-8 R/B,1970-093B,4632,R/B,1970-10-20,2010-01-02,3.5\n"
        "COSMOS DEB,1962-025E,6251,DEB,1962-06-13,,0.05\n"
    )
    a = ver_valid.satcat(space_track).table.set_index("norad_id")
    with pytest.warns(SatlabWarning):
        b = read_tle(VER_TLE, errors="skip", satcat=celestrak).table.set_index("norad_id")
    assert a.loc[5, "object_type"] == b.loc[5, "object_type"] == "PAYLOAD"
    assert a.loc[4632, "object_type"] == b.loc[4632, "object_type"] == "ROCKET BODY"
    assert b.loc[6251, "object_type"] == "DEBRIS"
    assert (a.loc[5, "rcs_size"], b.loc[5, "rcs_size"]) == ("SMALL", "MEDIUM")  # 0.122 m^2
    assert b.loc[4632, "rcs_size"] == "LARGE" and b.loc[6251, "rcs_size"] == "SMALL"
    assert a.loc[4632, "decay_date"] == pd.Timestamp("2010-01-02")
    assert pd.isna(a.loc[6251, "object_type"])  # not in that SATCAT: kept, unknown
    assert len(a) == len(ver_valid)
    assert read_satcat(celestrak)["rcs_m2"].tolist() == [0.122, 3.5, 0.05]


def test_satcat_errors(tmp_path):
    bad = tmp_path / "satcat.csv"
    bad.write_text("NAME,TYPE\nX,PAY\n")
    with pytest.raises(CatalogueError, match=r"satcat\.csv: expected a SATCAT table with a NORAD"):
        read_satcat(bad)
    with pytest.raises(CatalogueError, match="this is a SATCAT table"):
        read_tle("NORAD_CAT_ID,OBJECT_TYPE\n5,PAY\n")


def test_catalogue_selection_helpers(ver_valid):
    assert len(ver_valid.select([5, 20413])) == 3
    latest = ver_valid.latest()
    assert len(latest) == latest.table["norad_id"].nunique() == 29
    assert isinstance(ver_valid.take(np.arange(3)), Catalogue)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        cat = Catalogue.from_lines([ISS1], [ISS2], names=["ISS"])
    assert cat.table.loc[0, "name"] == "ISS"


def test_omm_catalogue_numbers_beyond_alpha5():
    """sgp4 refuses numbers above 339999; satlab keeps them in the table and propagates."""
    from satlab.orbits import Observer, predict

    big = dict(omm_record(ISS1, ISS2, "ISS COPY", strings=True), NORAD_CAT_ID="400000")
    cat = read_tle(json.dumps([big, omm_record(ISS1, ISS2, "ISS", strings=True)]))
    assert cat.table["norad_id"].tolist() == [400000, 25544]
    assert cat.table.loc[0, "line1"] == ""
    t = cat.table.loc[1, "epoch"] + pd.to_timedelta([1.0], unit="h")
    ds = predict(cat, t, Observer.ground(46.2, 6.15, 400.0))
    np.testing.assert_allclose(ds["ra"].values[0], ds["ra"].values[1], atol=1e-9)
    with pytest.warns(SatlabWarning, match="numbered above 339999 have no TLE form"):
        text = cat.to_tle()
    assert read_tle(text).table["norad_id"].tolist() == [25544]
