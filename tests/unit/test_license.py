"""The project's license: the Apache License 2.0 text at the root, declared in pyproject and shipped in the wheel."""

from __future__ import annotations

import tomllib

from helpers import REPO


def test_license_is_the_apache_2_text_declared_in_pyproject() -> None:
    text = (REPO / "LICENSE").read_text()
    assert text.lstrip().startswith("Apache License\n                           Version 2.0, January 2004")
    assert "END OF TERMS AND CONDITIONS" in text and "APPENDIX: How to apply the Apache License" in text
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert project["license"] == "Apache-2.0"
    assert project["license-files"] == ["LICENSE"]
