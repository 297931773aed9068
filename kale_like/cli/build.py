"""``kale-like build NB``: one image per distinct step environment (and ``compile --images``)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from . import options

HELP = """examples:
  kale-like build notebook.ipynb --base-image kale-like/base:py3.11
  kale-like build notebook.ipynb --registry 127.0.0.1:5000/team --push
  kale-like build notebook.ipynb --dry-run -o build/      # Dockerfiles only, no engine
exit codes: 0 ok, 2 bad input (e.g. a module no distribution provides),
            3 environment (no Docker engine, registry unreachable, a build failed)"""


def add_image_options(parser: argparse.ArgumentParser, *, base_image: bool = True) -> None:
    """Options shared by ``build`` and ``compile --images``."""
    parser.add_argument("--registry", metavar="R", help="registry prefix, e.g. 127.0.0.1:5000/team")
    parser.add_argument("--push", action="store_true", help="push the images to --registry")
    if base_image:
        parser.add_argument(
            "--base-image",
            metavar="IMAGE",
            help="base of every image (default: notebook metadata, "
            "$KALE_LIKE_BASE_IMAGE, then python:X.Y-slim)",
        )
    parser.add_argument(
        "--wheelhouse",
        metavar="DIR",
        help="pinned wheels installed with --no-index (default: "
        "$KALE_LIKE_WHEELHOUSE or ~/.cache/kale-like/wheelhouse)",
    )
    parser.add_argument(
        "--extend-images",
        action="store_true",
        help="build on top of steps' image: tags instead of using them as is",
    )


def register(sub: Any, name: str) -> argparse.ArgumentParser:
    parser = options.add_command(
        sub,
        name,
        help="build (and push) one image per distinct step environment",
        description="Build a content-addressed image per distinct step environment: the "
        "pinned distributions each step imports, on a base image, with the kale_like runtime. "
        "An unchanged environment is never rebuilt nor re-pushed.",
        epilog=HELP,
    )
    options.add_notebook_argument(parser)
    add_image_options(parser)
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="write Dockerfiles, requirements.txt and images.json to -o DIR",
    )
    parser.add_argument(
        "-o",
        "--output",
        metavar="DIR",
        help="write each image's Dockerfile and requirements.txt, and images.json (step -> "
        "image, the input of `kale-like deploy --images`) to DIR",
    )
    options.add_json_option(parser, help="print a JSON result")
    parser.add_argument("-q", "--quiet", action="store_true", help="no build progress")
    parser.set_defaults(func=handle_build)
    return parser


def image_options(args: argparse.Namespace) -> dict[str, Any]:
    """Keyword arguments of :func:`kale_like.api.build` from :func:`add_image_options`."""
    return {
        "registry": args.registry,
        "push": args.push,
        "base_image": args.base_image,
        "wheelhouse": args.wheelhouse,
        "extend_images": args.extend_images,
    }


def handle_build(args: argparse.Namespace) -> int:
    from ..api.image_builds import build

    quiet = args.quiet or args.json
    result = build(
        args.notebook,
        dry_run=args.dry_run,
        output_dir=args.output,
        progress=None if quiet else options.to_stderr,
        **image_options(args),
    )
    if args.json:
        options.print_json(result.to_json())
        return 0
    options.print_diagnostics(result.diagnostics, args.notebook, ("warning", "info"))
    width = max((len(s) for s in result.images), default=0)
    for step, ref in result.images.items():
        print(f"{step:<{width}}  {ref}")
    if args.output:
        print(f"wrote {Path(args.output) / 'images.json'}", file=sys.stderr)
    if not args.dry_run:
        print(
            f"built {len(result.built)}, up to date {len(result.skipped)}, "
            f"pushed {len(result.pushed)}",
            file=sys.stderr,
        )
    return 0


def images_for_compile(args: argparse.Namespace) -> dict[str, str] | None:
    """``compile --images``: build (or reuse by digest) the images, return step -> ref."""
    if not getattr(args, "images", False):
        return None
    from ..api.image_builds import build

    result = build(
        args.notebook, need_local=False, progress=options.to_stderr, **image_options(args)
    )
    return result.images
