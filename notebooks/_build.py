"""Write the example notebooks of this folder, without outputs.

    python notebooks/_build.py            # rewrite every notebook
    python notebooks/_build.py --check    # exit 1 if a committed notebook differs

The notebooks are generated so that they stay reproducible and reviewable: edit the cells here,
not in Jupyter, then re-run this script. Committed notebooks carry no outputs, no execution
counts and no widget state; ``tests/test_notebooks.py`` executes them and checks that they are
what this script writes.
"""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

HERE = Path(__file__).resolve().parent

# The first code cell of every notebook: find the repository from wherever Jupyter runs it.
SETUP = '''\
import os
from pathlib import Path

import pandas as pd
from IPython.display import display

import salesmining as sm


def find_repo_root() -> Path:
    """The salesmining checkout this notebook belongs to, wherever the kernel was started."""
    hints = (globals().get("__vsc_ipynb_file__"), os.environ.get("JPY_SESSION_NAME"))  # the notebook's path, if known
    starts = [Path(hint).resolve().parent for hint in hints if hint]
    starts += [Path.cwd(), Path(sm.__file__).resolve().parent]  # notebooks/ itself, or the editable install
    for start in starts:
        for folder in (start, *start.parents):
            if (folder / "sample_logs" / "stages.yaml").is_file() and (folder / "pyproject.toml").is_file():
                return folder
    raise FileNotFoundError("run this notebook inside a salesmining checkout: sample_logs/ was not found")


ROOT = find_repo_root()
SAMPLES = ROOT / "sample_logs"
OUT = Path(os.environ.get("SALESMINING_OUT", ROOT / "out"))  # out/ is git-ignored
pd.set_option("display.max_columns", 30)
pd.set_option("display.width", 200)
print(f"salesmining {sm.__version__}; sample logs in {SAMPLES}")
'''

COLUMNS = """\
COLUMNS = {
    "case": "Opportunity ID",
    "activity": "Activity",
    "timestamp": "Timestamp",
    "resource": "Owner",
    "approval_result": "Approval Result",
    "amount": "Amount",
    "case_attributes": "auto",
}"""


def md(source: str) -> tuple[str, str]:
    return ("md", source)


def code(source: str) -> tuple[str, str]:
    return ("code", source.strip("\n"))


def quickstart() -> list[tuple[str, str]]:
    return [
        md("""\
# Quickstart: diagnose a CRM opportunity export

This notebook walks through a first diagnosis of a sales pipeline with **salesmining**, on the
bundled export `sample_logs/opportunities.csv`: 800 synthetic B2B opportunities from 2024
(Lead → Contact → Needs Analysis → Solution Proposal → Quote & Negotiation → Contract Signed or
Closed Lost). Known problems were injected into it — loops, skipped stages, long waits, redundant
approvals, slow first responses and slow handoffs — and
[sample_logs/README.md](../sample_logs/README.md) lists them deal by deal, so you can check every
number below against the truth.

The steps are the ones you would follow with a client's export:

1. read the export and check what was kept (the quality report);
2. write down the intended process (the stage model);
3. diagnose: KPIs, findings ranked by the time and deals they cost, the process map;
4. look at the evidence and the root-cause hints behind the top finding;
5. hand over a self-contained HTML report."""),
        code(SETUP),
        md("""\
## 1. Read the export

Name the columns that identify the deal (the *case*), the activity or stage, and the timestamp.
Optional columns add the owner, approval decisions and the deal amount. `case_attributes="auto"`
moves every column that is constant within a deal (segment, region, lead source, product) to the
case table, where the root-cause hints look for patterns. In Jupyter the log shows a summary
card."""),
        code("""\
log = sm.read_csv(
    SAMPLES / "opportunities.csv",
    case="Opportunity ID",
    activity="Activity",
    timestamp="Timestamp",
    resource="Owner",
    approval_result="Approval Result",
    amount="Amount",
    case_attributes="auto",
)
print(f"Cases: {log.n_cases:,}")
print(f"Events: {log.n_events:,}")
log"""),
        md("""\
**The quality report comes first.** No row is dropped silently: every input row is either kept
or rejected with a reason (`quality.rejections`), and rows read = kept + rejected always holds.
Warnings flag what is suspicious but kept — here, deals with a single event, which have no
transitions or durations. On a client's export, read this before trusting any number below."""),
        code("""\
quality = log.quality
print(f"Rows read {quality.rows_read:,} = kept {quality.rows_kept:,} + rejected {quality.rows_rejected:,}")
quality"""),
        code("""\
quality.warnings_frame()[["code", "count", "message"]]"""),
        md("""\
One row per deal in the case table, with the amount and the attributes, and the most common paths
through the pipeline. `outcome` stays empty until something says which activities win or lose a
deal: `sm.diagnose` reads it from the stage model below (or call
`log.with_outcomes(won=[...], lost=[...])`)."""),
        code("""\
display(log.cases.head())
log.variants().head(8)"""),
        md("""\
## 2. The intended process

A `StageModel` states what *should* happen: the stages in order, the won and lost outcomes, the
approval steps and the stage they belong to, activities allowed anywhere (calls, e-mails), and
target times (SLAs) per stage and approval. Keep it in a YAML file the client can review."""),
        code("""\
print((SAMPLES / "stages.yaml").read_text(encoding="utf-8"))
stages = sm.StageModel.from_yaml(SAMPLES / "stages.yaml")
stages"""),
        md("""\
## 3. Diagnose

`sm.diagnose` bundles conformance with the stage model, the findings, the KPIs and the process
map. Each part is computed the first time it is needed. Displayed in Jupyter, the diagnosis
shows the KPI headline, the top findings and the annotated process map: edge width is the number
of transitions, red text marks findings (rank, kind, share of deals, time lost), dashed blue
edges skip stages and red edges move back."""),
        code("""\
d = sm.diagnose(log, stages)
d"""),
        md("""\
The same map by time: edge colour is the median wait between two steps, from green (short) to red
(long), so you see where deals sit still."""),
        code("""\
import shutil

if shutil.which("dot"):
    display(d.graph.to_dot(view="performance", stages=stages, findings=d.findings, title="Median waits"))
else:
    print("Graphviz's dot program is not installed, so the map is not drawn (apt-get install graphviz).")"""),
        md("""\
## 4. Findings, ranked by impact

A finding is *what* went wrong (`kind`), *by which test* (`rule`) and *where* (a stage, a
transition `A → B`, or an approval step). `time_lost_hours` counts every hour once: each gap
between two events is charged to exactly one cause. `win_rate_effect` compares the win rate of
closed affected deals with comparable unaffected ones — a correlation, not a cause.
[docs/findings.md](../docs/findings.md) describes every rule and threshold."""),
        code("""\
findings = d.findings
table = findings.to_frame()
top = table.iloc[0]
print(f"{len(table)} findings; top: {top['kind']} ({top['rule']}) at {top['where']}, {top['cases']} deals")
(
    table.assign(
        share=table["share"].round(3),
        time_lost_days=(table["time_lost_hours"] / 24).round(1),
        win_rate_effect=table["win_rate_effect"].round(3),
    )[
        ["rank", "severity", "kind", "rule", "where", "cases", "share", "time_lost_days", "win_rate_effect", "detail"]
    ].head(10)
)"""),
        md("""\
Findings can be narrowed down, e.g. to one part of the pipeline:"""),
        code("""\
in_negotiation = findings.filter(stage="Quote & Negotiation", min_severity="medium")
in_negotiation.to_frame()[["kind", "rule", "where", "cases", "detail"]]"""),
        md("""\
## 5. KPIs

Win rate, cycle time, deal size, rework and first-time-right rates, lead response time; the
funnel is *skip-aware*: a deal has reached a stage when it recorded that stage or a later one, so
skipped stages do not break the conversion rates."""),
        code("""\
kpis = d.kpis
values = kpis.values
print(f"Win rate: {values['win_rate']:.1%} of {values['closed']:.0f} closed deals")
print(
    f"Cycle time of closed deals: median {values['cycle_time_median_days']:.1f} days, "
    f"90th percentile {values['cycle_time_p90_days']:.1f} days"
)
kpis"""),
        code("""\
import matplotlib.pyplot as plt

funnel = kpis.funnel.iloc[::-1]
fig, ax = plt.subplots(figsize=(7, 2.8))
ax.barh(funnel["stage"], funnel["reached"], color="#4c78a8")
for y, (reached, share) in enumerate(zip(funnel["reached"], funnel["share_of_cases"], strict=True)):
    ax.text(reached, y, f" {reached} ({share:.0%})", va="center")
ax.set_xlabel("deals that reached the stage")
ax.set_title("Skip-aware funnel")
ax.set_xlim(0, funnel["reached"].max() * 1.2)
plt.show()
kpis.time_in_stage.round(1)"""),
        md("""\
## 6. The evidence behind the top finding

Every number has its cases: `findings.evidence` has one row per (finding, deal) with the time
that deal lost. Open the worst one and read its events — this is what you show the sales
manager."""),
        code("""\
evidence = findings.evidence
behind_top = evidence[
    (evidence["kind"] == top["kind"]) & (evidence["rule"] == top["rule"]) & (evidence["where"] == top["where"])
].sort_values("time_lost_s", ascending=False)
print(f"{len(behind_top)} deals behind the top finding")
behind_top.assign(time_lost_days=(behind_top["time_lost_s"] / 86400).round(1)).drop(columns="time_lost_s").head(10)"""),
        code("""\
worst = behind_top["case_id"].iloc[0]
print(f"Events of {worst}:")
log.filter(cases=[worst]).to_frame()[["concept:name", "time:timestamp", "org:resource"]]"""),
        md("""\
## 7. Root-cause hints

For the top findings, the case attributes whose values are over-represented among the affected
deals: `lift` = (share of affected deals with the value) / (share of all deals with it), kept
when at least 1.5. A lift is a lead for the workshop with the client, not a cause."""),
        code("""\
findings.root_causes.assign(lift=lambda t: t["lift"].round(2)).head(12)"""),
        md("""\
## 8. Hand over

One self-contained HTML page (map, findings with evidence, KPIs, charts, data quality) and every
table as CSV. They go to `out/` at the repository root, which git ignores."""),
        code("""\
OUT.mkdir(parents=True, exist_ok=True)
report = d.write_html(OUT / "quickstart_report.html")
tables = d.write_tables(OUT / "quickstart_tables")
print(f"Report written: {report.name} ({report.stat().st_size / 1e6:.1f} MB) in {OUT}")
print(f"{len(tables)} tables written to {OUT / 'quickstart_tables'}")"""),
        md("""\
**Next:** [02_before_after.ipynb](02_before_after.ipynb) measures whether a process change
worked; [03_real_log_bpic2012.ipynb](03_real_log_bpic2012.ipynb) runs the same analysis on a
real log (BPI Challenge 2012). From the command line:
`salesmining diagnose sample_logs/opportunities.csv --stages sample_logs/stages.yaml -o report.html`."""),
    ]


def before_after() -> list[tuple[str, str]]:
    return [
        md("""\
# Before / after: did the process change work?

The sample company changed its sales process in mid-2024. Two exports cover the periods:
`opportunities_before.csv` (January–June, 800 deals) and `opportunities_after.csv` (July–December,
800 deals). They were generated with the rates of **loops, redundant approvals and slow first
responses cut to a third** after the change, and every other rate (skipped stages, long waits,
handoffs) unchanged — so we know what a good comparison should find, and what it should not.

`sm.compare` diagnoses both periods with the same stage model and compares them. KPIs and the
share of deals affected by each kind of finding are compared with a **case-level bootstrap**:
the deals of each period are resampled 2,000 times, and the 95% interval of the difference
after − before gives the verdict (*significant* when it excludes 0)."""),
        code(SETUP),
        code(
            COLUMNS
            + """
before = sm.read_csv(SAMPLES / "opportunities_before.csv", **COLUMNS)
after = sm.read_csv(SAMPLES / "opportunities_after.csv", **COLUMNS)
stages = sm.StageModel.from_yaml(SAMPLES / "stages.yaml")
print(f"Before: {before}")
print(f"After:  {after}")
display(stages)"""
        ),
        md("""\
## 1. Compare the two periods

Displayed in Jupyter, the comparison shows every metric with its change, interval and verdict."""),
        code("""\
comparison = sm.compare(before, after, stages)
comparison"""),
        md("""\
## 2. KPI deltas with intervals

`better` says whether the change goes the good way (a lower rework rate is better, a lower win
rate is worse); `verdict` is *better* or *worse* only when the interval excludes 0. Rates and
shares are shown in percent, their changes in percentage points."""),
        code("""\
for row in comparison.kpis.itertuples():
    percent = row.metric.endswith("_rate") or row.metric.startswith("share")
    k, unit = (100, " pts") if percent else (1, "")
    print(
        f"{row.metric:<40} {row.before * k:7.2f} → {row.after * k:7.2f}   Δ {row.delta * k:+6.2f}{unit:<4}"
        f"  95% [{row.ci_low * k:+6.2f}, {row.ci_high * k:+6.2f}]  {row.verdict}"
    )"""),
        code("""\
import matplotlib.pyplot as plt

shares = comparison.kpis[comparison.kpis["metric"].str.startswith("share")].iloc[::-1]
colors = ["#2e7d32" if v == "better" else "#c62828" if v == "worse" else "#757575" for v in shares["verdict"]]
fig, ax = plt.subplots(figsize=(7, 3))
for y, (row, color) in enumerate(zip(shares.itertuples(), colors, strict=True)):
    low, high = (row.delta - row.ci_low) * 100, (row.ci_high - row.delta) * 100
    ax.errorbar(row.delta * 100, y, xerr=[[low], [high]], fmt="o", color=color, capsize=3)
ax.axvline(0, color="black", linewidth=0.8)
ax.set_yticks(range(len(shares)), [m.removeprefix("share of cases with ") for m in shares["metric"]])
ax.set_xlabel("change in the share of deals affected (percentage points, 95% interval)")
plt.show()"""),
        md("""\
The three problems the change targeted — loops (also visible as the rework rate), redundant
approvals and slow first responses — come out significantly better, and with them the cycle time
and the first-time-right rate. Skipped stages, long waits and handoffs, which the change did not
touch, show no significant change, as they should.

## 3. Findings: resolved, new, better, worse

Findings of the two periods are matched by `(kind, rule, where)`. A finding is *resolved* when no
deal has it after, *new* when none had it before, *better* / *worse* when the share of deals
affected fell below 0.8× / rose above 1.25× its value before. Unlike the KPI verdicts, these
statuses are not tested for significance: a finding with a handful of deals easily doubles by
chance, so read them together with the case counts."""),
        code("""\
changes = comparison.findings
print(changes["status"].value_counts().to_string())
changes.assign(
    days_lost_before=(changes["time_lost_hours_before"] / 24).round(1),
    days_lost_after=(changes["time_lost_hours_after"] / 24).round(1),
)[["status", "kind", "rule", "where", "cases_before", "cases_after", "days_lost_before", "days_lost_after"]]"""),
        md("""\
The process maps differ too: `comparison.edges` matches transitions and their median waits. The
transitions whose frequency changed most:"""),
        code("""\
edges = comparison.edges.assign(change=lambda e: e["count_after"] - e["count_before"])
edges.reindex(edges["change"].abs().sort_values(ascending=False).index).head(6)[
    ["source", "target", "status", "count_before", "count_after", "change"]
]"""),
        code("""\
OUT.mkdir(parents=True, exist_ok=True)
path = comparison.write_html(OUT / "before_after_report.html")
print(f"Report written: {path.name} in {OUT}")"""),
        md("""\
## 4. One export, split at the date of the change

Often there is a single export and a date. `log.split(at=...)` cuts a log by case start: deals
started before the date form the *before* log, the others the *after* log. Concatenating the two
files and splitting at 1 July gives back exactly the two periods — and the same comparison."""),
        code("""\
files = ["opportunities_before.csv", "opportunities_after.csv"]
export = pd.concat([pd.read_csv(SAMPLES / f, dtype=str, keep_default_na=False) for f in files], ignore_index=True)
one_log = sm.from_dataframe(export, name="one export, 2024", **COLUMNS)
early, late = one_log.split(at="2024-07-01")
print(f"Before 1 July: {early}")
print(f"From 1 July:   {late}")
split_comparison = sm.compare(early, late, stages)
columns = ["metric", "before", "after", "delta", "ci_low", "ci_high", "verdict"]
same = split_comparison.kpis[columns].equals(comparison.kpis[columns])
print(f"Same result as comparing the two files: {same}")"""),
        md("""\
**A placebo test.** `opportunities.csv` was generated with the same rates all year, so splitting
it at 1 July should show no real change. With a dozen metrics each tested at 95%, one
"significant" difference now and then is expected by chance: read the verdicts together, look at
the size of the change, and prefer a change that was predicted before looking."""),
        code("""\
year = sm.read_csv(SAMPLES / "opportunities.csv", **COLUMNS)
first_half, second_half = year.split(at="2024-07-01")
placebo = sm.compare(first_half, second_half, stages)
print(placebo)
placebo.kpis[columns].round(4)"""),
    ]


def bpic2012() -> list[tuple[str, str]]:
    return [
        md("""\
# A real log: BPI Challenge 2012

The [BPI Challenge 2012](https://doi.org/10.4121/uuid:3926db30-f712-4394-aebc-75976070e91f) log
holds 13,087 loan and overdraft applications at a Dutch financial institute (October 2011 – March
2012). It is a sales funnel of sorts: an application (`A_`) is submitted, pre-accepted, accepted
and finalized, an offer (`O_`) is created, sent and returned, and it ends activated (won),
declined or cancelled (lost). Staff work items (`W_`, Dutch names) do the work in between, each
with *schedule*, *start* and *complete* events:

| work item | meaning |
|---|---|
| W_Afhandelen leads | follow up on incomplete initial submissions |
| W_Completeren aanvraag | complete the pre-accepted application |
| W_Nabellen offertes | call the customer after an offer was sent |
| W_Valideren aanvraag | assess (validate) the application |
| W_Nabellen incomplete dossiers | seek missing information during assessment |
| W_Beoordelen fraude | investigate suspected fraud |
| W_Wijzigen contractgegevens | change contract details after approval |

The log is third-party data and is not part of the repository: it is read from
`../shared/real_logs/bpic2012/` next to the checkout (or the folder in `SALESMINING_REAL_LOGS`).
When it is absent, this notebook says so and skips its analysis."""),
        code(
            SETUP
            + """
REAL_LOGS = Path(os.environ.get("SALESMINING_REAL_LOGS", ROOT.parent / "shared" / "real_logs"))
BPIC = REAL_LOGS / "bpic2012" / "BPI_Challenge_2012.xes.gz"
HAVE_LOG = BPIC.is_file()
if HAVE_LOG:
    print(f"Using {BPIC}")
else:
    print(f"SKIPPED: the BPIC 2012 log was not found at {BPIC}; the cells below do nothing.")
    print("Put BPI_Challenge_2012.xes.gz there, or set SALESMINING_REAL_LOGS, to run this notebook.")"""
        ),
        md("""\
## 1. Read the XES file (about 20 seconds)

Trace attributes become case attributes (`AMOUNT_REQ`, `REG_DATE`); every event is accounted for
in the quality report, as for a CSV."""),
        code("""\
if HAVE_LOG:
    log = sm.read_xes(BPIC)
    print(f"Cases: {log.n_cases:,}")
    print(f"Events: {log.n_events:,}")
    display(log)
    display(log.quality.warnings_frame()[["code", "count", "message"]])"""),
        md("""\
## 2. Discover the process, abstracted

24 activities and thousands of variants make an unreadable map. `activity_coverage=0.9` keeps the
most frequent activities that cover 90% of the events; hidden activities are *bridged* (a case
going A → hidden → B shows as A → B), so every path stays connected, and what was hidden is
stated. Note that a work item's schedule, start and complete are three events: the large
self-loops on the `W_` activities are mostly one work item's lifecycle, not rework (the findings
below count repeated *completions*)."""),
        code("""\
if HAVE_LOG:
    graph = sm.discover(log, activity_coverage=0.9)
    print(graph.abstraction)
    display(graph)
    display(graph.nodes[["activity", "events", "cases", "case_share"]])"""),
        code("""\
if HAVE_LOG:
    edges = graph.edges.assign(
        wait_median_hours=(graph.edges["wait_median_s"] / 3600).round(2),
        wait_p90_hours=(graph.edges["wait_p90_s"] / 3600).round(1),
    )
    between = edges[edges["source"] != edges["target"]]  # leave out a work item's own lifecycle
    display(between[["source", "target", "count", "cases", "bridged", "wait_median_hours", "wait_p90_hours"]].head(15))
    display(graph.variants[["variant", "count", "share"]].head(5))"""),
        md("""\
## 3. The intended funnel

Only the application states form the stage model. `A_APPROVED` and `A_REGISTERED` happen
together with the activation and are allowed anywhere; offers and work items are not in the
model."""),
        code("""\
stages = sm.StageModel(
    ["A_SUBMITTED", "A_PARTLYSUBMITTED", "A_PREACCEPTED", "A_ACCEPTED", "A_FINALIZED"],
    outcomes={"won": ["A_ACTIVATED"], "lost": ["A_DECLINED", "A_CANCELLED"]},
    anywhere=["A_APPROVED", "A_REGISTERED"],
    name="BPIC 2012 application funnel",
)
stages"""),
        md("""\
## 4. Conformance

By default, activities the model does not know (the `O_` and `W_` ones) count as deviations, so
only the applications that never reach an offer or a work item "follow the intended path".
`count_unknown=False` leaves them out of the alignment: the fitness then measures the `A_` funnel
alone — but `conforms` (and so the share that "follows the intended path") still requires that no
unknown activity occurs, so count the cases with alignment cost 0 instead. The funnel itself is
driven by the system and is followed by every application; the deviations worth discussing are in
the work around it."""),
        code("""\
if HAVE_LOG:
    conformance = sm.conform(log, stages)
    funnel_only = sm.conform(log, stages, count_unknown=False)
    print(conformance)
    print(funnel_only)
    exact = (funnel_only.to_frame()["alignment_cost"] == 0).mean()
    print(f"Applications whose A_ states follow the funnel exactly: {exact:.1%}")
    deviations = conformance.deviations
    display(deviations[["deviation", "kind", "cases", "share", "win_rate_with", "win_rate_without"]].head(10))"""),
        md("""\
## 5. Findings

`sm.diagnose` with the same abstraction computes the findings and KPIs and draws the annotated
map (about 10 seconds). The outcome of each application comes from the model's outcome
activities."""),
        code("""\
if HAVE_LOG:
    d = sm.diagnose(log, stages, activity_coverage=0.9, title="BPI Challenge 2012")
    display(d)"""),
        code("""\
if HAVE_LOG:
    findings = d.findings
    table = findings.to_frame()
    print(findings)
    table = table.assign(
        time_lost_days=(table["time_lost_hours"] / 24).round(0),
        win_rate_effect=table["win_rate_effect"].round(3),
    )
    columns = ["rank", "severity", "kind", "rule", "where", "cases", "time_lost_days", "win_rate_effect", "detail"]
    display(table[columns].head(15))"""),
        md("""\
**Loops on work items.** `activity_repeat` flags an activity outside the stage model completed
again in the same case; time lost is the waiting before the repeats. Completing the application
(`W_Completeren aanvraag`) and calling after offers (`W_Nabellen offertes`) are redone in about a
third of all applications — most of those that have these work items at all. Their positive
win-rate effect is survivorship, not a benefit of rework: only applications that get far enough
can repeat these steps. (The KPI `rework_rate` counts moves between *stages* only, so it is 0%
here: the rework is in the work items.)"""),
        code("""\
if HAVE_LOG:
    loops = findings.filter(kind="loop").to_frame()
    loops = loops.assign(time_lost_days=(loops["time_lost_hours"] / 24).round(1))
    display(loops[["where", "cases", "share", "time_lost_days", "win_rate_effect", "detail"]])"""),
        md("""\
**Offer re-sends.** A repeated `O_SENT` (with `O_SELECTED` and `O_CREATED`) is a new offer for
the same application. The events confirm the finding: how many offers were sent per
application?"""),
        code("""\
if HAVE_LOG:
    events = log.to_frame()
    offers = events[events["concept:name"] == "O_SENT"].groupby("case:concept:name").size()
    resent = offers[offers > 1]
    print(f"Applications with an offer sent: {len(offers):,}")
    print(f"Offer sent more than once: {len(resent):,} ({len(resent) / len(offers):.1%})")
    display(offers.value_counts().sort_index().rename_axis("offers sent").to_frame("applications"))
    resends = findings.filter(kind="loop", where="O_SENT").to_frame()
    display(resends[["where", "cases", "win_rate_affected", "win_rate_unaffected", "detail"]])"""),
        md("""\
**Read handoffs with domain knowledge.** `handoff_delay` flags an owner change followed by a
wait longer than usual for the same step. After `A_FINALIZED`, the wait before
`W_Nabellen offertes` starts is largely the customer's time to return the signed offer, not an
internal queue — a finding is a question for the process owner, not a verdict.

## 6. KPIs

The "win rate" here is the share of closed applications that were activated. The median cycle
time is short because most applications are declined within minutes; the lead response (time
in the first stage) is automatic in this system and means little."""),
        code("""\
if HAVE_LOG:
    kpis = d.kpis
    values = kpis.values
    print(f"Win rate (activated / closed): {values['win_rate']:.1%}")
    print(
        f"Cycle time of closed applications: median {values['cycle_time_median_days']:.2f} days, "
        f"90th percentile {values['cycle_time_p90_days']:.1f} days"
    )
    display(kpis)
    display(kpis.funnel)
    display(kpis.time_in_stage.round(2))"""),
        md("""\
The full HTML report of this diagnosis is large for a log of this size; write it with
`d.write_html(OUT / "bpic2012_report.html")` when you need it."""),
    ]


NOTEBOOKS = {
    "01_quickstart.ipynb": quickstart,
    "02_before_after.ipynb": before_after,
    "03_real_log_bpic2012.ipynb": bpic2012,
}


def build(name: str) -> nbformat.NotebookNode:
    """The notebook ``name``, without outputs, with stable cell ids."""
    stem = name.split("_", 1)[0]
    cells = []
    for i, (kind, source) in enumerate(NOTEBOOKS[name]()):
        cell = new_markdown_cell(source) if kind == "md" else new_code_cell(source)
        cell["id"] = f"nb{stem}-{i:02d}"
        cells.append(cell)
    nb = new_notebook(cells=cells)
    nb["metadata"] = {
        "kernelspec": {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"},
        "language_info": {"name": "python"},
    }
    nbformat.validate(nb)
    return nb


def render(name: str) -> str:
    return nbformat.writes(build(name)) + "\n"


def main(argv: list[str]) -> int:
    check = "--check" in argv
    stale = []
    for name in NOTEBOOKS:
        path = HERE / name
        text = render(name)
        if check:
            if not path.exists() or path.read_text(encoding="utf-8") != text:
                stale.append(name)
        else:
            path.write_text(text, encoding="utf-8")
            print(f"wrote {path}")
    if stale:
        print(f"out of date: {', '.join(stale)}; run python notebooks/_build.py", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
