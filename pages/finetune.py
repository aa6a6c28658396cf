"""Fine-tuning: train the pretrained transformer on the current dataset in the background, watch the loss, compare
it with zero-shot and the baselines, and choose which model version the Forecast page uses."""

from __future__ import annotations

import re
import time

import pandas as pd
import streamlit as st

from core.jobs import JobRunner
from core.models import FINETUNED_PREFIX, label_of
from core.models.finetune import FINETUNED_ROW, FinetuneConfig, read_log, run_folder
from core.plots import loss_figure
from core.registry import ModelRegistry
from core.results import leaderboard_table
from pages._common import current_or_stop, ensure_navigation, explained_errors, workspace

ensure_navigation()

MODES = {"lora": "LoRA: small adapters, fast, a few hundred KB",
         "full": "Full: all weights; can fit better, larger file"}
STATUS = {"queued": "waiting for another fine-tuning to finish", "running": "training", "succeeded": "finished",
          "failed": "failed", "cancelled": "cancelled"}
COLUMNS = ["Model", "MASE", "relMASE", "WQL", "80% coverage", "95% coverage"]
FORMATS = {name: st.column_config.NumberColumn(format="%.3f") for name in ("MASE", "relMASE", "WQL", "Zero-shot WQL")}
FORMATS |= {name: st.column_config.NumberColumn(format="%.1f%%") for name in ("80% coverage", "95% coverage")}
DEFAULTS = FinetuneConfig()


def duration(seconds) -> str:
    seconds = int(seconds or 0)
    return f"{seconds // 60} min {seconds % 60:02d} s" if seconds >= 60 else f"{seconds} s"


st.title("Fine-tuning")
info = current_or_stop("fine-tune the transformer on it")

runner, registry = JobRunner(workspace()), ModelRegistry(workspace())
runner.recover()  # fails jobs whose worker died, starts queued ones
every_job = runner.list(kind="finetune", limit=100)
jobs = [job for job in every_job if job.params.get("dataset_id") == info.id]
busy = any(job.active for job in jobs)
taken = {v.name for v in registry.list()} | {job.params.get("name") for job in every_job if job.active}
slug = re.sub(r"[^a-z0-9]+", "-", info.name.lower()).strip("-")[:24] or "data"

with st.form("finetune_form"):
    st.markdown(f"**Fine-tune the transformer on {info.name}**: it keeps learning from your own history (all but the "
                "last weeks, on which it is then scored against zero-shot and the baselines). It runs in the "
                "background: keep working, or switch pages and come back.")
    cells = st.columns([2, 1, 1, 2])
    mode = cells[0].radio("Mode", list(MODES), format_func=MODES.get, key="finetune_mode")
    minutes = cells[1].number_input("Max training minutes", 1.0, 240.0, float(DEFAULTS.max_minutes), step=1.0,
                                    key="finetune_minutes", help="Training stops here and keeps its best weights")
    steps = cells[2].number_input("Max steps", 1, 20_000, DEFAULTS.max_steps, key="finetune_steps",
                                  help="Batches of training windows; it may stop earlier when it stops improving")
    typed = cells[3].text_input("Version name", key="finetune_name", max_chars=48,
                                placeholder=f"{slug}-<mode>-{time.strftime('%m%d-%H%M')}",
                                help="Letters, digits, '.', '_' and '-'; leave empty for the name shown")
    if busy:
        st.caption("A fine-tuning of this dataset is already running: wait for it to finish or cancel it below.")
    submitted = st.form_submit_button("Fine-tune on my data", type="primary", key="start_finetune", disabled=busy)

if submitted:
    name = typed.strip()
    if not name:  # the shown default, made unique when another run this minute took it
        stem = f"{slug}-{mode}-{time.strftime('%m%d-%H%M')}"
        name = next(n for n in [stem, *(f"{stem}-{i}" for i in range(2, 100))] if n not in taken)
    with explained_errors():
        name = registry.check_name(name, taken)
        params = {"dataset_id": info.id, "name": name, "mode": mode, "max_steps": int(steps),
                  "max_minutes": float(minutes)}
        runner.submit("finetune", params, title=f"{MODES[mode].split(':')[0]} fine-tuning of {info.name}")
        st.session_state["finetune_toast"] = f"Fine-tuning started: version {name!r}. You can keep working."
        st.rerun()  # draw the form again, now disabled
if "finetune_toast" in st.session_state:
    st.toast(st.session_state.pop("finetune_toast"))
latest = jobs[0] if jobs else None


@st.fragment(run_every=2 if latest is not None and latest.active else None)
def job_status(job_id: str, watching: bool) -> None:
    with explained_errors():
        job = runner.get(job_id)
        if watching and job.finished:
            st.rerun()  # redraw the whole page: the form, and the versions
        show_job(job)


def show_job(job) -> None:
    progress = job.progress
    st.markdown(f"**{job.title}** (version `{job.params.get('name')}`): {STATUS[job.status]}")
    if job.active:
        fraction = progress.get("fraction")
        st.progress(min(float(fraction or 0.0), 1.0), text=progress.get("message") or "Starting…")
        cells = st.columns(4)
        total = progress.get("total") or job.params.get("max_steps", DEFAULTS.max_steps)
        cells[0].metric("Step", f"{progress.get('step') or 0:,} of {total:,}")
        cells[1].metric("Epoch", f"{progress.get('epoch') or 0:.2f}")
        cells[2].metric("Elapsed", duration(progress.get("elapsed_s")))
        cells[3].metric("Time left", duration(progress.get("eta_s")) if progress.get("eta_s") is not None else "—")
        if st.button("Cancel", key="cancel_finetune", disabled=job.cancel_requested):
            job = runner.cancel(job.id)
        if job.cancel_requested:
            st.caption("Cancelling: it stops at its next step.")
    elif job.status == "failed":
        st.error(f"The fine-tuning failed: {job.error}")
    elif job.status == "cancelled":
        st.info("The fine-tuning was cancelled; no version was saved. Start a new one above.")
    saved = run_folder(job.params, job.folder) / "state.pt"
    if job.status in ("failed", "cancelled") and saved.is_file() and not busy:
        if st.button("Resume from its last checkpoint", key="resume_finetune",
                     help="Continue the stopped run where it last saved its state (every 40 steps)"):
            with explained_errors():
                registry.check_name(job.params["name"], taken)
                runner.submit("finetune", {**job.params, "resume_dir": str(saved.parent)}, title=job.title)
                st.session_state["finetune_toast"] = f"Resuming version {job.params['name']!r}."
                st.rerun()
    version = registry.find(job.result["version_id"]) if job.status == "succeeded" else None
    folder = version.folder if version is not None else run_folder(job.params, job.folder)
    log = read_log(folder)
    if len(log) > 1:
        st.plotly_chart(loss_figure(log), key="finetune_loss_chart")
    elif job.active:
        st.caption(f"The loss chart starts at the first check on the held-out weeks, after "
                   f"{DEFAULTS.eval_every} steps.")
    if job.status == "succeeded":
        comparison = pd.DataFrame(job.result["comparison"])
        names = comparison["label"].where(comparison["model"] != FINETUNED_ROW,
                                          label_of(FINETUNED_PREFIX + job.result["version"]))
        table = leaderboard_table(comparison.assign(model=names))[COLUMNS]
        tuned = pd.DataFrame("", index=table.index, columns=table.columns)
        tuned.loc[comparison["model"] == FINETUNED_ROW] = "font-weight: bold; background-color: rgba(33, 195, 84, 0.15)"
        st.dataframe(table.style.apply(lambda _: tuned, axis=None), hide_index=True, column_config=FORMATS)
        verdict = job.result["verdict"]
        (st.success if verdict.startswith("Fine-tuning helped") else st.info)(verdict)
        st.caption(f"{job.result['steps']:,} steps in {duration(job.result['wall_time_s'])} (stopped by "
                   f"{job.result['stopped_by']}); scored on the last periods of every series, which it never "
                   "trained on (its best step was chosen on them, which flatters it a little).")
        if version is not None and (version.folder / "log.csv").is_file():
            st.download_button("Download the training log (CSV)", (version.folder / "log.csv").read_bytes(),
                               file_name=f"{version.name}-log.csv", mime="text/csv", key="download_finetune_log")


if latest is not None:
    st.subheader("Latest fine-tuning")
    job_status(latest.id, latest.active)

st.subheader("Model versions")
versions, active = registry.list(), registry.active()
if not versions:
    st.info("No fine-tuned versions yet: the Forecast page uses the pretrained transformer (zero-shot).")
    st.stop()
st.dataframe(registry.table(), hide_index=True, column_config=FORMATS)
cells = st.columns([3, 1, 1, 1], vertical_alignment="bottom")
ids = [v.id for v in versions]
chosen = cells[0].selectbox("Version", ids, format_func={v.id: v.name for v in versions}.get, key="finetune_version",
                            index=ids.index(active.id) if active is not None else 0)
with explained_errors():
    done = None
    if cells[1].button("Activate", key="activate_version", disabled=active is not None and active.id == chosen):
        done = f"{registry.activate(chosen).name} now drives the Forecast page."
    if cells[2].button("Use zero-shot", key="use_zero_shot", disabled=active is None):
        registry.activate(None)
        done = "The Forecast page uses the pretrained transformer (zero-shot) again."
    if cells[3].button("Delete", key="delete_version"):
        done = f"Deleted version {registry.get(chosen).name}."
        registry.delete(chosen)
    if done:
        st.session_state["finetune_toast"] = done
        st.rerun()  # redraw the table and the buttons
st.caption("The active version is what the Forecast page (and later the reorder plan) uses for the transformer; "
           "with none active it uses the pretrained transformer (zero-shot). Scores are on the dataset it was "
           "tuned on.")
