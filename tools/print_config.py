"""Print a config after inheritance and --cfg-options, as the runner sees
it: ``python tools/print_config.py CONFIG [--cfg-options k=v ...]``."""
import argparse

from mmengine.config import Config, DictAction


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('config')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    args = parser.parse_args()
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    print(cfg.pretty_text)


if __name__ == '__main__':
    main()
