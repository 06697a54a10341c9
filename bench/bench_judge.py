"""The judge's training step: channels-last against the default memory layout, in the same run.

    python bench/bench_judge.py [--steps 40] [--repeats 3]

Times forward, backward and AdamW of the default params' judge on random 28x28 images (the cost
does not depend on the values), with the model as built (channels-last) and with the same model
in torch's default contiguous layout. Prints ms per step (best of --repeats), the seconds one
epoch of 60,000 images takes at that speed, and the ratio of the two.
"""

import torch
import torch.nn.functional as F
from timing import best_ms_per_call, step_args, torch_line

from genstudy import judge
from genstudy.pipeline import params


class ContiguousJudge(judge.Judge):
    """The same network in the default layout: the reference."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.to(memory_format=torch.contiguous_format)

    def features(self, x):
        return self.penultimate(self.convs(x.reshape(len(x), 1, 28, 28).contiguous()))


def step_ms(cls, cfg, steps: int, repeats: int) -> float:
    torch.manual_seed(0)
    model = cls(width=cfg.width, features=cfg.features)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    x, y = torch.rand(cfg.batch_size, 784), torch.arange(cfg.batch_size) % 10

    def step():
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    return best_ms_per_call(step, steps, repeats)


def main():
    args = step_args(__doc__, 40)
    cfg = params.load().judge
    print(torch_line())
    rows = {
        "contiguous": step_ms(ContiguousJudge, cfg, args.steps, args.repeats),
        "channels-last": step_ms(judge.Judge, cfg, args.steps, args.repeats),
    }
    for name, ms in rows.items():
        epoch_s = 60_000 / cfg.batch_size * ms / 1000
        print(f"{name:14s} {ms:6.2f} ms/step (batch {cfg.batch_size})   {epoch_s:5.1f} s per epoch of 60,000 images")
    print(f"ratio channels-last / contiguous: {rows['channels-last'] / rows['contiguous']:.2f}")


if __name__ == "__main__":
    main()
