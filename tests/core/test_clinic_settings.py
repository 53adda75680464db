"""The clinic's policy file: defaults when absent, loud when wrong."""

import pytest

from planner.core.clinic_settings import ClinicSettings, ClinicSettingsError, load_clinic_settings


def test_absent_file_gives_the_defaults(tmp_path):
    settings = load_clinic_settings(tmp_path / "clinic.toml")
    assert settings == ClinicSettings()
    assert settings.treat_before_review is False and settings.audit_db is None


def test_values_are_read(tmp_path):
    file = tmp_path / "clinic.toml"
    file.write_text('treat_before_review = true\naudit_db = "postgresql://planner@db/audit"\n')
    settings = load_clinic_settings(file)
    assert settings.treat_before_review is True
    assert settings.audit_db == "postgresql://planner@db/audit"
    assert str(file) in settings.review_policy_text


def test_environment_variable_names_the_file(tmp_path, monkeypatch):
    file = tmp_path / "elsewhere.toml"
    file.write_text("treat_before_review = true\n")
    monkeypatch.setenv("PLANNER_CLINIC_SETTINGS", str(file))
    assert load_clinic_settings().treat_before_review is True


@pytest.mark.parametrize("text, words", [
    ("treat_before_review = yes\n", "not valid TOML"),
    ('treat_before_review = "true"\n', "must be a true/false value"),
    ("treat_befor_review = true\n", "unknown keys: treat_befor_review"),
    ("audit_db = 3\n", "must be a text value"),
])
def test_a_wrong_file_is_an_error_not_the_defaults(tmp_path, text, words):
    file = tmp_path / "clinic.toml"
    file.write_text(text)
    with pytest.raises(ClinicSettingsError, match=words):
        load_clinic_settings(file)
