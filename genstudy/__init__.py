"""genstudy: a reproducible study of deep generative models on Fashion-MNIST."""

__version__ = "0.1.0"
