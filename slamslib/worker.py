"""One torchrun process: `python -m torch.distributed.run ... -m slamslib.worker PARAMS NETWORK`."""
from __future__ import annotations

import sys

from .config import load_config
from .data import class_names_for
from .training import train_network


def main(argv=None) -> int:
    params, name = (argv or sys.argv[1:])[:2]
    cfg = load_config(params)
    train_network(cfg, name, len(class_names_for(cfg)), force=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
