"""One recovery folder per Planner instance (issue 15, point 2): a running instance's work is
never offered to another; a stopped one's is, each on its own; a plan file open in a running
instance is known to the others."""

import json
import os

from planner.core.recovery import RecoverySession
from tests.core.test_plan_file_and_recovery import a_plan


def test_each_instance_writes_its_own_file_and_a_running_ones_is_never_offered(tmp_path):
    first, second = RecoverySession(tmp_path), RecoverySession(tmp_path)
    first.plan_store().save(a_plan(notes="first"))
    second.plan_store().save(a_plan(notes="second"))
    assert first.plan_store().path != second.plan_store().path
    assert first.plan_store().load().notes == "first" and second.plan_store().load().notes == "second"
    assert first.orphans() == [] and second.orphans() == []
    assert RecoverySession(tmp_path).orphans() == []


def test_the_work_of_every_stopped_instance_is_offered_on_its_own(tmp_path):
    first, second = RecoverySession(tmp_path), RecoverySession(tmp_path)
    first.plan_store().save(a_plan(notes="first"))
    second.plan_store().save(a_plan(notes="second"))
    first.abandon()
    second.abandon()   # both processes die: the OS lets go of their locks
    later = RecoverySession(tmp_path)
    orphans = later.orphans()
    assert [o.plan_store.load().notes for o in orphans] == ["first", "second"]   # oldest first
    # claimed by `later` while it decides: another instance starting now is not offered them too
    assert RecoverySession(tmp_path).orphans() == []
    orphans[0].plan_store.discard()
    later.forget(orphans[0])        # nothing left: its folder goes
    later.forget(orphans[1])        # left for later: offered again
    assert not orphans[0].folder.exists() and orphans[1].folder.exists()
    assert [o.plan_store.load().notes for o in RecoverySession(tmp_path).orphans()] == ["second"]


def test_a_stale_lock_of_a_dead_process_is_offered(tmp_path):
    folder = tmp_path / "recovery" / "99999999-dead"
    folder.mkdir(parents=True)
    (folder / "instance.lock").write_text("")
    (folder / "owner.json").write_text(json.dumps({"pid": 99999999, "host": "here", "started": "2020-01-01"}))
    from planner.core.plan_file import save_plan

    save_plan(folder / "plan.json", a_plan(notes="from a dead process"))
    orphans = RecoverySession(tmp_path).orphans()
    assert [o.plan_store.load().notes for o in orphans] == ["from a dead process"]
    assert "Planner session 99999999" in orphans[0].describe()


def test_typed_entries_are_kept_beside_the_plan_and_go_with_it(tmp_path):
    store = RecoverySession(tmp_path).plan_store()
    store.save(a_plan(), {"dose per fraction": "19"})
    assert store.load_entries() == {"dose per fraction": "19"}
    store.save(a_plan())
    assert store.load_entries() == {}
    store.save(a_plan(), {"fractions": "five"})
    store.discard()
    assert not store.pending() and store.load_entries() == {}


def test_a_plan_file_open_in_a_running_instance_is_known_to_the_others(tmp_path):
    plan_file = tmp_path / "p.plan.json"
    first, second = RecoverySession(tmp_path / "data"), RecoverySession(tmp_path / "data")
    first.plan_store().note_open(str(plan_file))
    assert second.open_elsewhere(plan_file) == [os.getpid()]
    first.plan_store().note_open(None)
    assert second.open_elsewhere(plan_file) == []
    first.plan_store().note_open(str(plan_file))
    first.abandon()   # a dead instance has nothing open
    assert second.open_elsewhere(plan_file) == []


def test_a_clean_close_leaves_no_folder_and_an_unrestored_plan_is_kept_outside_them(tmp_path):
    session = RecoverySession(tmp_path)
    store = session.plan_store()
    store.save(a_plan(notes="precious"))
    kept = store.keep(store.set_aside())
    session.close()
    assert not session.folder.exists()
    assert kept.parent == tmp_path / "recovery" and kept.exists()


def test_the_old_shared_recovery_file_is_offered_once(tmp_path):
    from planner.core.plan_file import save_plan

    save_plan(tmp_path / "recovery" / "open-plan.json", a_plan(notes="before per-instance folders"))
    session = RecoverySession(tmp_path)
    orphans = session.orphans()
    assert [o.plan_store.load().notes for o in orphans] == ["before per-instance folders"]
    orphans[0].plan_store.discard()
    session.forget(orphans[0])
    assert RecoverySession(tmp_path).orphans() == []
