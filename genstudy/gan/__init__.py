"""Class-conditional GANs on 28x28x1 images: networks, the three objectives, one training loop.

nets.py        generators and critics from the axes of Gulrajani et al. (2017), Table 1
objectives.py  DCGAN (non-saturating), WGAN (weight clipping), WGAN-GP losses
config.py      what one training takes, built from the params schema
state.py       checkpointed training state: exact resume
checks.py      failed-convergence checks
train.py       the loop: EMA of G, failed-convergence restarts
checkpoint.py  the trained model file: save contents, load from anywhere
"""

METHODS = ("dcgan", "wgan", "wgan_gp")
METHOD_NAMES = {"dcgan": "DCGAN (non-saturating)", "wgan": "WGAN (weight clipping)", "wgan_gp": "WGAN-GP"}
