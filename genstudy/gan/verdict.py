"""The end-of-training verdict on a GAN run: do its reported samples vary within a class?

train_gan's checks (genstudy.gan.checks) abort an attempt early, on the raw generator in pixel space.
The verdict looks at what the report shows: the EMA generator's samples, in the judge's features,
where noise added to one image per class moves pixels far apart but features barely.
"""


def final_check(diversity: float, min_diversity: float) -> str | None:
    """The cause of failure, or None. `diversity` is the samples' within-class spread in the judge's
    features over that of as many real training images (1 = as varied as real)."""
    if not diversity >= min_diversity:  # NaN fails too
        return (
            f"mode collapse at the end of training: the reported samples' within-class spread in the judge's "
            f"features is {diversity:.3f} of real training images' (< {min_diversity:g})"
        )
    return None
