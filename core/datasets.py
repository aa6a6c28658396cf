"""Workspace operations the pages and the command line share: import an upload, load the demo shop, save a
promotion-cleaned copy of a dataset."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from core.causal import PromotionAnalysis, promotion_cleaned
from core.data.mapping import ColumnMapping
from core.data.validate import LoadResult, ValidationOptions, load_sales
from core.store import CURRENT_DATASET_KEY, DatasetInfo, Workspace

DEMO_NAME = "Demo shop"
DEMO_DIR = Path(__file__).resolve().parents[1] / "demo_data"
DEMO_SALES = DEMO_DIR / "sales.csv.gz"
PROMOTION_CLEANED_SUFFIX = " (promotion-cleaned)"


@dataclass(frozen=True)
class ImportOutcome:
    """A validated upload and, when it was accepted, the dataset it became."""

    result: LoadResult
    dataset: DatasetInfo | None


def import_upload(
    workspace: Workspace,
    data: bytes,
    filename: str,
    name: str | None = None,
    mapping: ColumnMapping | dict | None = None,
    options: ValidationOptions | None = None,
    make_current: bool = True,
) -> ImportOutcome:
    """Validate an upload and, unless rejected, save it (with its report, mapping and the original bytes)."""
    result = load_sales(data, mapping=mapping, options=options, filename=filename)
    if not result.accepted:
        return ImportOutcome(result, None)
    info = save_result(workspace, result, name or Path(filename).name.split(".")[0] or "Upload", filename, data)
    if make_current:
        workspace.set_setting(CURRENT_DATASET_KEY, info.id)
    return ImportOutcome(result, info)


def save_result(workspace: Workspace, result: LoadResult, name: str, filename: str, data: bytes) -> DatasetInfo:
    """Store an accepted :class:`LoadResult` in the workspace."""
    issues = result.issue_rows.astype({c: str for c in result.issue_rows.columns if c != "row"})
    return workspace.save_dataset(
        name=name,
        frame=result.frame,
        issues=issues,
        report=result.report.to_dict(),
        mapping=result.mapping.to_dict(),
        source_name=filename,
        source_bytes=data,
        freq=result.report.freq,
    )


def load_demo_shop(workspace: Workspace) -> DatasetInfo:
    """Import the demo shop (replacing an earlier copy) and make it the current dataset."""
    for info in workspace.list_datasets():
        if info.name == DEMO_NAME:
            workspace.delete(info.id)
    outcome = import_upload(workspace, DEMO_SALES.read_bytes(), DEMO_SALES.name, name=DEMO_NAME)
    if outcome.dataset is None:  # the shipped demo must always import; if not, say why loudly
        raise RuntimeError(f"The demo shop did not import: {outcome.result.report.headline}")
    return outcome.dataset


def save_promotion_cleaned(workspace: Workspace, info: DatasetInfo, analysis: PromotionAnalysis) -> DatasetInfo:
    """Store ``info``'s history with promotion effects replaced by the baseline (see
    :func:`core.causal.promotion_cleaned`) as the dataset "<name> (promotion-cleaned)", replacing an older copy of
    that name. It keeps the original's validation report, mapping and issue rows; the current dataset stays, unless
    it was the older copy.

    Raises :class:`core.causal.PromotionError` when ``analysis`` was made on other data.
    """
    cleaned = promotion_cleaned(workspace.load_frame(info.id), analysis)
    name = f"{info.name}{PROMOTION_CLEANED_SUFFIX}"
    older = [d.id for d in workspace.list_datasets() if d.name == name]
    saved = workspace.save_dataset(
        name=name,
        frame=cleaned,
        issues=workspace.load_issues(info.id),
        report=workspace.load_report(info.id),
        mapping=info.mapping,
        source_name=info.source_name,
        freq=info.freq,
    )
    was_current = workspace.get_setting(CURRENT_DATASET_KEY) in older
    for dataset_id in older:
        workspace.delete(dataset_id)
    if was_current:
        workspace.set_setting(CURRENT_DATASET_KEY, saved.id)
    return saved


def current_dataset(workspace: Workspace) -> DatasetInfo | None:
    """The dataset the planner works on, or the newest one, or ``None`` in an empty workspace."""
    chosen = workspace.get_setting(CURRENT_DATASET_KEY)
    available = [d for d in workspace.list_datasets() if d.available]
    for info in available:
        if info.id == chosen:
            return info
    return available[0] if available else None

