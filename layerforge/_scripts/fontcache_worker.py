"""Writes the font list of a layer's matplotlib, for ``layerforge build``.

The *target* interpreter runs this file (``python -I -S -B -c <source> TREE OUTPUT CONFIG
ROOT``): it imports the layer's own matplotlib from TREE, so it must work on any Python a
Lambda runtime has (3.9 and later) and import nothing but the standard library and the layer.
``-B`` keeps it from writing bytecode into the tree; ``-S`` keeps the host's site-packages out.

matplotlib builds its font list at import when its cache folder (``MPLCONFIGDIR``) holds none:
here CONFIG, an empty folder, so the list is the one a cold start builds, under the name this
matplotlib reads (``fontlist-v<N>.json``). What this adds to it, for the layer as Lambda
extracts it to ROOT (``/opt/python``):

* only matplotlib's own fonts (``mpl-data/fonts``) are kept: the others are the build
  machine's, and Lambda's runtimes have no fonts of their own;
* their paths are those under ROOT, and the file is written by matplotlib's own ``json_dump``
  as the matplotlib under ROOT would write it (its own fonts relative to its data folder);
* the lists are sorted by path: matplotlib's order comes from a set of paths, so it varies
  with the hash seed and the build folder, and only ties (the same family, style and weight
  twice, as the AFM metrics in ``afm/`` and ``pdfcorefonts/``) depend on it;
* the file is read back with matplotlib's own ``json_load`` and must give the same fonts.

The last stdout line is JSON: ``{"file", "matplotlib", "ttf", "afm"}`` when written (exit 0),
``{"skipped", "matplotlib"}`` when this matplotlib does not work this way (exit 2: nothing
written).
"""

from __future__ import annotations

import dataclasses
import importlib
import json
import os
import sys
from pathlib import Path
from typing import Any

UNSUPPORTED = 2


class Unsupported(Exception):
    """This matplotlib does not build and read its font list the way this worker expects."""


def _renamed(entry: Any, fname: str) -> Any:
    if dataclasses.is_dataclass(entry) and not isinstance(entry, type):  # frozen since 3.10
        return dataclasses.replace(entry, fname=fname)
    entry.fname = fname
    return entry


def _own_fonts(entries: list[Any], data: str, lambda_data: str) -> list[Any]:
    """The entries of fonts below ``data``, named from ``lambda_data``, sorted by path."""
    kept = []
    for entry in entries:
        path = str(Path(entry.fname).absolute())
        if path.startswith(data + "/"):
            kept.append(_renamed(entry, lambda_data + path[len(data) :]))
    return sorted(kept, key=lambda entry: (entry.fname, entry.name))


def _written_name(config: Path) -> str:
    written = sorted(p.name for p in config.iterdir() if p.suffix == ".json")
    if len(written) != 1 or not written[0].startswith("fontlist-"):
        raise Unsupported(f"its import wrote {written or 'no file'}, not one fontlist-*.json")
    return written[0]


def _check(matplotlib: Any, font_manager: Any, path: Path, manager: Any, data: str) -> None:
    """Read back as matplotlib reads it: the same fonts, each file present in the layer."""
    loaded = font_manager.json_load(str(path))
    if getattr(loaded, "_version", None) != font_manager.FontManager.__version__:
        raise Unsupported("the written list does not carry FontManager.__version__")
    for name in ("ttflist", "afmlist"):
        if [vars(e) for e in getattr(loaded, name)] != [vars(e) for e in getattr(manager, name)]:
            raise Unsupported(f"its json_load does not give back the {name} written")
    lambda_data = matplotlib.get_data_path()
    for entry in [*loaded.ttflist, *loaded.afmlist]:
        inside = entry.fname.startswith(lambda_data + "/")
        if not inside or not Path(data + entry.fname[len(lambda_data) :]).is_file():
            raise Unsupported(f"{entry.fname} is not a file of the layer")


def _font_manager(tree: Path) -> tuple[Any, Any]:
    """The layer's matplotlib and its font manager, imported (which builds the list)."""
    sys.path.insert(0, str(tree))
    matplotlib: Any = importlib.import_module("matplotlib")
    font_manager: Any = importlib.import_module("matplotlib.font_manager")
    package = Path(matplotlib.__file__).absolute().parent
    if package.parent != tree:
        raise Unsupported(f"matplotlib was imported from {package}, not from the layer")
    manager = getattr(font_manager, "fontManager", None)
    expected = ("FontManager", "json_dump", "json_load")
    if not all(hasattr(font_manager, name) for name in expected) or not isinstance(
        manager, font_manager.FontManager
    ):
        raise Unsupported(f"its font_manager has no {', '.join(expected)}")
    return matplotlib, font_manager


def write_font_list(tree: Path, output: Path, config: Path, root: str) -> dict[str, Any]:
    os.environ["MPLCONFIGDIR"] = str(config)
    os.environ["MPLBACKEND"] = "Agg"
    os.environ.pop("MATPLOTLIBRC", None)
    matplotlib, font_manager = _font_manager(tree)
    manager = font_manager.fontManager
    name = _written_name(config)
    data = str(Path(matplotlib.get_data_path()).absolute())
    lambda_data = f"{root}/{Path(data).relative_to(tree).as_posix()}"
    manager.ttflist = _own_fonts(manager.ttflist, data, lambda_data)
    manager.afmlist = _own_fonts(manager.afmlist, data, lambda_data)
    # matplotlib names its own fonts relative to get_data_path(): the one it has under root
    matplotlib.get_data_path = lambda: lambda_data
    font_manager.json_dump(manager, str(output / name))
    _check(matplotlib, font_manager, output / name, manager, data)
    return {
        "file": name,
        "matplotlib": matplotlib.__version__,
        "ttf": len(manager.ttflist),
        "afm": len(manager.afmlist),
    }


def main(argv: list[str]) -> int:
    tree, output, config = (Path(a).absolute() for a in argv[1:4])
    try:
        written = write_font_list(tree, output, config, argv[4])
    except Unsupported as reason:
        for made in output.iterdir():
            made.unlink()
        version = getattr(sys.modules.get("matplotlib"), "__version__", "?")
        print(json.dumps({"skipped": str(reason), "matplotlib": version}))
        return UNSUPPORTED
    print(json.dumps(written))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
