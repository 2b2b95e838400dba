"""OnexError: codes, attributes, text and transport."""

from __future__ import annotations

import pickle

import pytest

from agents.lib.errors import ErrorCode, OnexError

REQUIRED_CODES = {
    "VALIDATION_ERROR",
    "NOT_FOUND",
    "CONFLICT",
    "TIMEOUT",
    "OPERATION_FAILED",
    "NOT_IMPLEMENTED",
    "INVALID_TRANSITION",
    "STEP_FAILED",
    "INTERNAL_ERROR",
}


def test_every_required_code_exists() -> None:
    assert {code.value for code in ErrorCode} >= REQUIRED_CODES


def test_attributes_and_str() -> None:
    error = OnexError("node not found", code=ErrorCode.NOT_FOUND, details={"node": "x", "n": 2})
    assert error.message == "node not found"
    assert error.code is ErrorCode.NOT_FOUND
    assert error.details == {"node": "x", "n": 2}
    assert str(error) == "[NOT_FOUND] node not found (node='x', n=2)"


def test_str_without_details_and_default_code() -> None:
    error = OnexError("it broke")
    assert error.code is ErrorCode.OPERATION_FAILED
    assert error.details == {}
    assert str(error) == "[OPERATION_FAILED] it broke"


def test_code_given_as_text() -> None:
    assert OnexError("x", code="TIMEOUT").code is ErrorCode.TIMEOUT


def test_unknown_code_is_refused_with_the_valid_ones() -> None:
    with pytest.raises(ValueError, match=r"unknown error code 'NOPE'.*VALIDATION_ERROR"):
        OnexError("x", code="NOPE")


def test_details_are_copied() -> None:
    details = {"a": 1}
    error = OnexError("x", details=details)
    details["a"] = 2
    assert error.details == {"a": 1}


def test_survives_pickling_across_processes() -> None:
    error = OnexError("boom", code=ErrorCode.STEP_FAILED, details={"step": "pay"})
    copy = pickle.loads(pickle.dumps(error))
    assert (copy.message, copy.code, copy.details) == (
        "boom",
        ErrorCode.STEP_FAILED,
        {"step": "pay"},
    )


def test_to_dict_and_repr() -> None:
    error = OnexError("bad", code=ErrorCode.VALIDATION_ERROR, details={"field": "port"})
    assert error.to_dict() == {
        "code": "VALIDATION_ERROR",
        "message": "bad",
        "details": {"field": "port"},
    }
    assert repr(error) == "OnexError('bad', code='VALIDATION_ERROR', details={'field': 'port'})"
