"""G and D behind one float input each, as MLflow's pytorch flavour takes models."""

from torch import nn


class SamplerForMlflow(nn.Module):
    """(B, z_dim + 1) = noise, then the class index -> images (B, 784)."""

    def __init__(self, g):
        super().__init__()
        self.g = g

    def forward(self, inputs):
        return self.g(inputs[:, :-1], inputs[:, -1].long()).flatten(1)  # (B, 784)


class CriticForMlflow(nn.Module):
    """(B, 784 + 1) = pixels, then the class index -> critic value (B,)."""

    def __init__(self, d):
        super().__init__()
        self.d = d

    def forward(self, inputs):
        return self.d(inputs[:, :-1], inputs[:, -1].long())[0]


def log_models(generator, critic, z_dim: int, x, y):
    """Log G and D to the active MLflow run, with input examples built from four training images."""
    import mlflow
    import torch

    g_in = torch.cat([torch.randn(4, z_dim), torch.arange(4.0)[:, None]], 1)
    d_in = torch.cat([torch.from_numpy(x[:4]), torch.from_numpy(y[:4]).float()[:, None]], 1)
    requirements = [f"torch=={torch.__version__}"]
    for name, model, example in (
        ("generator", SamplerForMlflow(generator), g_in),
        ("critic", CriticForMlflow(critic), d_in),
    ):
        mlflow.pytorch.log_model(model.eval(), name=name, input_example=example.numpy(), pip_requirements=requirements)
