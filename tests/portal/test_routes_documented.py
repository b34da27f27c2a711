"""Every route says in one line what it is for, read from the app's own url_map (new routes included)."""

from __future__ import annotations

import inspect

import pytest

from portal import create_app


def _views():
    app = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": "sqlite://", "SECRET_KEY": "x", "LAB_MODE": True})
    return sorted(
        (rule.endpoint, app.view_functions[rule.endpoint]) for rule in app.url_map.iter_rules() if rule.endpoint != "static"
    )


@pytest.mark.parametrize(("endpoint", "view"), _views(), ids=lambda value: value if isinstance(value, str) else "")
def test_every_route_has_a_one_line_docstring(endpoint, view):
    doc = inspect.getdoc(inspect.unwrap(view)) or ""
    assert doc, f"{endpoint} has no docstring"
    assert len(doc.splitlines()[0]) <= 120, f"{endpoint}: the docstring should open with a one-line summary"
