"""``satlab train NAME``: reproduce a shipped model from a seed."""

from __future__ import annotations

import click

from ..evaluate import evaluate_command as evaluate  # noqa: F401  (`satlab evaluate`)
from ..evaluate import snr_range_option

MODEL_NAMES = ("trail-cnn", "trail-mobilenetv2", "trail-unet")


@click.command()
@click.argument("name", type=click.Choice(MODEL_NAMES))
@click.option("--seed", type=int, default=2026, show_default=True, help="Seed of the run.")
@click.option("--preset", default="cheops", show_default=True, help="Simulator preset.")
@click.option(
    "--out",
    type=click.Path(file_okay=False),
    default=None,
    help="Output directory [default: runs/train/NAME-seedSEED].",
)
@click.option("--frames", type=int, default=None, help="Simulated frames (70/15/15 split).")
@click.option("--pool", type=int, default=None, help="Frames in the hard-negative pool.")
@click.option("--epochs", type=int, default=None, help="Most epochs per training round.")
@click.option("--mining-rounds", type=int, default=None, help="Hard-negative mining rounds.")
@click.option("--workers", type=int, default=2, show_default=True, help="Simulation processes.")
@click.option("--max-minutes", type=float, default=None, help="Wall-time budget per round.")
@click.option("--threads", type=int, default=1, show_default=True, help="torch CPU threads.")
@click.option("--no-cache", is_flag=True, help="Simulate again instead of using the cache.")
@click.option("--overwrite", is_flag=True, help="Replace existing outputs.")
@click.option(
    "--hard-negatives",
    type=click.Path(dir_okay=False),
    default=None,
    help="CSV list of frames marked as false positives (the DetectionReview widget's).",
)
@click.option(
    "--review-frames",
    default=None,
    help="Frames the list refers to: catalogue entry, file, glob or directory.",
)
@click.option(
    "--init",
    type=click.Path(dir_okay=False, exists=True),
    default=None,
    help="Weights to start from (fine-tuning, with the recipe's fine-tuning stage).",
)
@click.option(
    "--lr",
    type=float,
    default=None,
    help="Adam learning rate [default: 1e-3, or the recipe's fine-tuning rate with --init].",
)
@click.option(
    "--column-fraction",
    type=float,
    default=0.0,
    show_default=True,
    help="Share of trails drawn near the detector columns, where read-out smear runs.",
)
@click.option(
    "--truncation-fraction",
    type=float,
    default=None,
    help="Share of trails cut short inside the frame [default: the simulator's, 0.1].",
)
@click.option(
    "--snr-range",
    default=None,
    callback=snr_range_option,
    help="Trails' snr_avg range LOW,HIGH, or 'mag' for the preset's magnitude range "
    "[default: the recipe's, 0.15,1000 for the UNet and the classifier].",
)
def train(name, seed, preset, out, frames, pool, epochs, mining_rounds, workers, max_minutes,
          threads, no_cache, overwrite, hard_negatives, review_frames, init, lr,
          column_fraction, truncation_fraction, snr_range):  # fmt: skip
    """Train model NAME on simulated frames; write NAME.safetensors and its model card.

    The shipped weights' card gives the command that made them; where it has an `init`,
    run its command with `--init` on the weights `init.command` made, down to the first
    run (the recipe at `--seed 2026` for trail-cnn and trail-unet).
    """
    from .core import train_model
    from .data import DEFAULT_CACHE, reviewed_negatives

    if (hard_negatives is None) != (review_frames is None):
        raise click.UsageError("--hard-negatives and --review-frames go together")
    reviewed = None
    if hard_negatives is not None:
        from ..catalog import open_catalog
        from ..io import open_frames

        cat = open_catalog()
        review = cat[review_frames].read() if review_frames in cat else open_frames(review_frames)
        reviewed = reviewed_negatives(hard_negatives, review)

    card = train_model(
        name,
        seed=seed,
        preset=preset,
        out=out or f"runs/train/{name}-seed{seed}",
        frames=frames,
        pool=pool,
        epochs=epochs,
        mining_rounds=mining_rounds,
        workers=workers,
        cache=None if no_cache else DEFAULT_CACHE,
        max_minutes=max_minutes,
        threads=threads,
        overwrite=overwrite,
        reviewed=reviewed,
        init=init,
        lr=lr,
        column_fraction=column_fraction,
        truncation_fraction=truncation_fraction,
        snr_range=snr_range,
        log=click.echo,
    )
    click.echo(_summary(card))


def _summary(card: dict) -> str:
    m = card["test_metrics"]
    if "at_threshold" in m:
        row = m["at_threshold"][0]
        return (
            f"{card['name']}: test accuracy {row['accuracy']:.4f} recall {row['recall']:.4f} "
            f"specificity {row['specificity']:.4f} at {row['threshold']}; "
            f"ROC AUC {m['roc_auc']:.4f}"
        )
    return (
        f"{card['name']}: pixel TPR at 1e-5 FPR {m['tpr_at_fpr']:.4f} (at 10 false pixels "
        f"per frame {m['tpr_at_fp_per_frame']:.4f}), precision at 90 % recall "
        f"{m['precision_at_recall']:.4f}, ROC AUC {m['roc_auc']:.4f}"
    )
