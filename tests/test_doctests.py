"""The docstring examples of the library run as written."""

import doctest
import importlib

import pytest

MODULES = ["adseq_lab.strict", "adseq_lab.queues"]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0
