"""`fedmkt archive` keeps a run's record without weights, and `fedmkt report` reads the archive like the run."""

import typer
from typer.testing import CliRunner

from fedmkt.report.archive import ARCHIVE_RECORD, NOT_RECORD, archive_run
from fedmkt.report.commands import archive, build_results
from fedmkt.report.reproduce import reproduce_command


def _invoke(*args: str):
    app = typer.Typer()
    app.command()(archive)
    return CliRunner().invoke(app, list(args))


def test_the_archive_holds_every_record_file_and_no_weights(tiny_run, tmp_path):
    _, run_dir = tiny_run
    assert (run_dir / "adapters").is_dir() and (run_dir / "checkpoints").is_dir()  # the run made weights
    result = _invoke(str(run_dir), "--to", str(tmp_path))
    assert result.exit_code == 0, result.output
    dest = tmp_path / run_dir.name
    assert result.output.startswith(f"{run_dir} -> {dest} (")
    kept = {p.relative_to(dest) for p in dest.rglob("*") if p.is_file()}
    made = {p.relative_to(run_dir) for p in run_dir.rglob("*") if p.is_file()}
    assert kept - {type(next(iter(made)))(ARCHIVE_RECORD)} == {p for p in made if p.parts[0] not in NOT_RECORD}
    assert not any(p.parts[0] in NOT_RECORD for p in kept)
    assert (dest / "results.json").read_bytes() == (run_dir / "results.json").read_bytes()


def test_the_report_from_the_archive_equals_the_report_from_the_run(tiny_run, tmp_path):
    configs, run_dir = tiny_run
    dest = archive_run(run_dir, tmp_path / "kept")
    plots = tmp_path / "plots"  # plots copied here link the same from both
    from_run = build_results([run_dir], config_dirs=[configs], link_base=tmp_path, plots_dir=plots, n_resamples=200)
    from_archive = build_results([dest], config_dirs=[configs], link_base=tmp_path, plots_dir=plots, n_resamples=200)
    assert from_archive.replace(str(dest), str(run_dir)) == from_run
    # the rerun goes where the run was made, never into the archive
    assert reproduce_command(dest, [configs]).command.endswith(f"--out {run_dir}")


def test_archiving_twice_needs_replace(tiny_run, tmp_path):
    _, run_dir = tiny_run
    assert _invoke(str(run_dir), "--to", str(tmp_path)).exit_code == 0
    again = _invoke(str(run_dir), "--to", str(tmp_path))
    assert again.exit_code != 0 and "already holds files; pass --replace" in str(again.exception)
    assert _invoke(str(run_dir), "--to", str(tmp_path), "--replace").exit_code == 0


def test_a_folder_that_is_not_a_run_is_refused(tmp_path):
    result = _invoke(str(tmp_path), "--to", str(tmp_path / "out"))
    assert result.exit_code != 0 and "not a fedmkt run folder" in str(result.exception)
