"""The secret key apart from the data, files only their owner reads, and key rotation."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.cli import key_refusal
from bot.settings import Secret, Settings, SettingsError
from storage.crypto import IdentityCipher
from storage.db import Database
from storage.identities import rotate_keys
from storage.models import AuditEntry
from storage.models_volunteers import Assessment, AssessmentDraft, AssessmentIdentity
from storage.repos_volunteers import VolunteerRepo
from tests.test_assessment_transcripts import (
    HEAD_NIK,
    HOUSEHOLD,
    KK,
    START,
    WIFE_NIK,
    R,
    by,
    team_with_volunteer,
)
from tests.volunteers_harness import SECRET

ROOT = Path(__file__).resolve().parents[1]
KEY = "a-production-key-kept-in-a-secret-file-0123456789"


def env_for(tmp_path: Path, **extra: str) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items()
            if not k.startswith(("WARGA_", "TELEGRAM_", "WHATSAPP_"))}
    data = tmp_path / "data"
    return {**base, "WARGA_DATABASE_URL": f"sqlite+aiosqlite:///{data / 'warga.db'}",
            "WARGA_DATA_DIR": str(data), **extra}


def warga(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "bot", *args], capture_output=True,
                          text=True, env=env, timeout=120, cwd=ROOT)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


# -- where the key comes from --------------------------------------------------------------


def test_the_key_comes_from_a_secrets_file(tmp_path: Path) -> None:
    secret = tmp_path / "run" / "warga_key"
    secret.parent.mkdir()
    secret.write_text(KEY + "\n")
    settings = Settings.from_env(env_for(tmp_path, WARGA_SECRET_KEY_FILE=str(secret)),
                                 dotenv=None)
    assert settings.secret_key == KEY and settings.secret_key_file == secret
    assert settings.key_problem() is None and key_refusal(settings) is None
    assert KEY not in repr(settings)


@pytest.mark.parametrize(("extra", "problem"), [
    ({"WARGA_SECRET_KEY": KEY, "WARGA_SECRET_KEY_FILE": "/x"}, "not both"),
    ({"WARGA_SECRET_KEY_FILE": "/nonexistent/warga_key"}, "cannot be read"),
    ({"WARGA_SECRET_KEY": "short"}, "too short"),
    ({"WARGA_PREVIOUS_SECRET_KEY": "short"}, "WARGA_PREVIOUS_SECRET_KEY is too short"),
])
def test_a_wrong_key_setting_is_refused(tmp_path: Path, extra: dict[str, str],
                                        problem: str) -> None:
    with pytest.raises(SettingsError, match=problem):
        Settings.from_env(env_for(tmp_path, **extra), dotenv=None)


def test_a_key_inside_the_data_folder_is_refused_unless_a_local_trial(tmp_path: Path) -> None:
    generated = Settings.from_env(env_for(tmp_path), dotenv=None)
    problem = generated.key_problem()
    assert problem is not None and "inside the data folder" in problem
    refusal = key_refusal(generated)
    assert refusal is not None and "WARGA_LOCAL_TRIAL=1" in refusal
    inside = tmp_path / "data" / "keys" / "warga_key"
    inside.parent.mkdir(parents=True)
    inside.write_text(KEY)
    in_volume = Settings.from_env(env_for(tmp_path, WARGA_SECRET_KEY_FILE=str(inside)),
                                  dotenv=None)
    assert in_volume.key_problem() is not None and key_refusal(in_volume) is not None
    trial = Settings.from_env(env_for(tmp_path, WARGA_LOCAL_TRIAL="1"), dotenv=None)
    assert trial.local_trial and key_refusal(trial) is None
    from_env = Settings.from_env(env_for(tmp_path, WARGA_SECRET_KEY=KEY), dotenv=None)
    assert from_env.key_problem() is None


def test_serve_refuses_to_start_with_the_key_beside_the_data(tmp_path: Path) -> None:
    result = warga(["serve"], env_for(tmp_path))
    assert result.returncode == 2
    assert "inside the data folder" in result.stderr and "WARGA_LOCAL_TRIAL=1" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "data" / "secret.key").exists()


def test_the_trial_script_says_it_is_a_trial() -> None:
    script = (ROOT / "scripts" / "serve").read_text()
    flag = 'export WARGA_LOCAL_TRIAL="${WARGA_LOCAL_TRIAL:-1}"'
    assert flag in script
    assert script.index(flag) < script.index("exec .venv/bin/warga serve")


# -- files only their owner reads -----------------------------------------------------------


def test_files_with_personal_data_are_the_owners_alone(tmp_path: Path) -> None:
    env = env_for(tmp_path, WARGA_SECRET_KEY=KEY)
    assert warga(["db", "upgrade"], env).returncode == 0
    data = tmp_path / "data"
    assert mode(data) == 0o700
    assert mode(data / "warga.db") == 0o600
    assert warga(["coordinator", "add", "console:koordinator"], env).returncode == 0
    out = tmp_path / "exports" / "complaints.csv"
    out.parent.mkdir()
    assert warga(["export", "complaints", "--out", str(out)], env).returncode == 0
    assert mode(out) == 0o600
    full = tmp_path / "exports" / "asesmen.csv"
    result = warga(["export", "assessments", "--out", str(full), "--full-ids",
                    "--requested-by", "console:koordinator", "--reason", "verifikasi"], env)
    assert result.returncode == 0, result.stderr
    written = sorted(full.parent.glob("asesmen*"))
    assert written and all(mode(p) == 0o600 for p in written)
    key = tmp_path / "keys" / "new"
    result = warga(["keys", "generate", "--out", str(key)], env)
    assert result.returncode == 0 and mode(key) == 0o600 and mode(key.parent) == 0o700
    assert len(key.read_text().strip()) >= 48
    assert warga(["keys", "generate", "--out", str(key)], env).returncode == 1


def test_a_generated_trial_key_is_the_owners_alone(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "fresh")
    settings.ensure_secret_key()
    assert mode(settings.generated_key_path) == 0o600
    assert mode(settings.data_dir) == 0o700


# -- rotation -----------------------------------------------------------------------------

NEW_KEY = "the-new-key-after-rotation-0123456789abcdef"


def now() -> datetime:
    return datetime(2026, 12, 1, tzinfo=UTC)


async def test_rotation_reseals_every_number_resumes_and_is_audited(db: Database) -> None:
    team = await team_with_volunteer(db)
    await team.run([*HOUSEHOLD, (R, "ya")])
    await team.run([*START[:5], *by(R, "ya", KK, "nanti")])  # a draft
    old = IdentityCipher(SECRET.reveal())
    rotating = IdentityCipher(NEW_KEY, previous=[SECRET.reveal()])

    class Stop(Exception):
        pass

    def stop_after_first(table: str, last: int) -> None:
        raise Stop

    # Interrupted after its first batch: what was done stays done.
    with pytest.raises(Stop):
        await rotate_keys(db, rotating, now, batch=1, progress=stop_after_first)
    report = await rotate_keys(db, rotating, now, batch=1)
    assert report.unreadable == 0 and report.drafts == 1
    again = await rotate_keys(db, rotating, now)
    assert (again.numbers, again.assessments, again.drafts) == (0, 0, 0)

    new = IdentityCipher(NEW_KEY)  # the previous key is gone now
    async with db.transaction() as tx:
        [a] = (await tx.session.execute(select(Assessment))).scalars()
        assert new.decrypt("nik", a.nik_sealed) == HEAD_NIK
        assert new.decrypt("kk", a.kk_sealed) == KK
        assert (a.nik_hash, a.kk_hash) == (new.lookup_hash("nik", HEAD_NIK),
                                           new.lookup_hash("kk", KK))
        assert a.nik_masked == new.reference("nik", HEAD_NIK) != old.reference("nik", HEAD_NIK)
        wife = a.answers["anggota"][1]["nik"]
        assert new.decrypt("nik", wife["sealed"]) == WIFE_NIK
        assert wife["hash"] == new.lookup_hash("nik", WIFE_NIK)
        assert wife["ref"] == wife["masked"] == new.reference("nik", WIFE_NIK)
        index = {(i.kind, i.hash) for i in (await tx.session.execute(
            select(AssessmentIdentity))).scalars()}
        assert index == {("nik", new.lookup_hash("nik", HEAD_NIK)),
                         ("nik", new.lookup_hash("nik", WIFE_NIK)),
                         ("kk", new.lookup_hash("kk", KK))}
        # The duplicate check finds the household by the new hashes.
        found = await VolunteerRepo(tx.session).find_duplicate(
            a.kelurahan_code, new.lookup_hash("nik", WIFE_NIK), None)
        assert found is not None and found.assessment.id == a.id
        [draft] = (await tx.session.execute(select(AssessmentDraft))).scalars()
        draft_kk = draft.state["answers"]["no_kk"]
        assert new.decrypt("kk", draft_kk["sealed"]) == KK
        actions = [e.action for e in (await tx.session.execute(
            select(AuditEntry).where(AuditEntry.action.like("keys.%"))
            .order_by(AuditEntry.id))).scalars()]
        assert actions == ["keys.rotation_started", "keys.rotation_started", "keys.rotated",
                           "keys.rotation_started", "keys.rotated"]


def test_rotate_without_a_previous_key_explains_the_steps(tmp_path: Path) -> None:
    result = warga(["keys", "rotate"], env_for(tmp_path, WARGA_SECRET_KEY=KEY))
    assert result.returncode == 2
    assert "WARGA_PREVIOUS_SECRET_KEY" in result.stderr and "keys generate" in result.stderr


def test_rotate_from_the_command_line(tmp_path: Path) -> None:
    env = env_for(tmp_path, WARGA_SECRET_KEY=NEW_KEY, WARGA_PREVIOUS_SECRET_KEY=KEY)
    assert warga(["db", "upgrade"], env).returncode == 0
    result = warga(["keys", "rotate"], env)
    assert result.returncode == 0, result.stderr
    assert "re-sealed 0 identity numbers" in result.stdout
    assert Secret(NEW_KEY).reveal() not in result.stdout + result.stderr
