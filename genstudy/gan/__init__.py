"""Class-conditional GANs on 28x28x1 images: networks, the three objectives, one training loop.

nets.py        generators and critics from the axes of Gulrajani et al. (2017), Table 1
objectives.py  DCGAN (non-saturating), WGAN (weight clipping), WGAN-GP losses
train.py       the loop: checkpoints and exact resume, EMA of G, failed-convergence restarts
"""

METHODS = ("dcgan", "wgan", "wgan_gp")
