"""M2's training step on M1's latents: milliseconds per step, and where softplus puts them.

    python bench/bench_m2.py [--steps 30] [--repeats 3]

One step of the default study's M2 (a minibatch of 500 unlabelled and 100 labelled 50-d inputs,
every unlabelled row summed over the ten labels: forward, backward and Adam) is timed with the
model's softplus and with torch's F.softplus in its place, in the same run. Prints ms per step
(best of --repeats), the ratio, and the minutes that 20 stages of `m2.epochs` epochs spend in
their steps at each speed. Random inputs: the cost does not depend on the values.
"""

from unittest import mock

import torch
import torch.nn.functional as F
from timing import best_ms_per_call, step_args, torch_line
from torch import nn

from genstudy import m2
from genstudy.pipeline import params

N_UNLABELLED = 54_900  # training images outside the N = 100 subset and the validation split


def step_ms(steps: int, repeats: int, cfg, native: bool) -> float:
    torch.manual_seed(0)
    model = m2.M2(50, cfg.hidden, cfg.z_dim, "gaussian")
    if native:  # torch's own softplus module in every MLP
        for net in (model.classifier, model.decoder):
            for i, layer in enumerate(net):
                if isinstance(layer, m2.Softplus):
                    net[i] = nn.Softplus()
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr, foreach=True)  # as m2.train
    x_u, x_l = torch.randn(cfg.batch_unlabelled, 50), torch.randn(cfg.batch_labelled, 50)
    y_l = torch.arange(cfg.batch_labelled) % 10

    def step():
        loss, _, _ = m2.objective(model, x_l, y_l, x_u, 100, N_UNLABELLED, cfg.alpha)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    with mock.patch.object(m2, "softplus", F.softplus if native else m2.softplus):
        return best_ms_per_call(step, steps, repeats)


def main():
    args = step_args(__doc__, 30)
    cfg = params.load().m2
    steps_per_epoch = N_UNLABELLED // cfg.batch_unlabelled
    print(torch_line())
    rows = {
        "F.softplus": step_ms(args.steps, args.repeats, cfg, True),
        "m2.softplus": step_ms(args.steps, args.repeats, cfg, False),
    }
    for name, ms in rows.items():
        minutes = 20 * cfg.epochs * steps_per_epoch * ms / 1000 / 60
        print(f"{name:12s} {ms:7.1f} ms/step   20 stages x {cfg.epochs} epochs: {minutes:5.1f} min of steps")
    print(f"ratio m2.softplus / F.softplus: {rows['m2.softplus'] / rows['F.softplus']:.2f}")


if __name__ == "__main__":
    main()
