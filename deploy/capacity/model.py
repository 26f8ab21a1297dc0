"""The capacity model behind docs/SCALING.md: from a region's (or the
country's) size to the peak load of each hot path, the cores and replicas
it needs, the events per second on NATS, the rows per year in PostgreSQL,
and, for one installation growing, which limit it meets first and at how
many students.

    python3 deploy/capacity/model.py            # prints the tables
    python3 deploy/capacity/model.py --check docs/SCALING.md

`--check` recomputes the tables and fails if the document shows other
numbers (make test runs it: tests/deploy.rs). Standard library only.

Every input says where it comes from: MEASURED here (with the command),
or ASSUMED (with the reason). Change an input, run the script, paste its
output into docs/SCALING.md.
"""

import math
import sys
from dataclasses import dataclass

# ---------------------------------------------------------------------------
# MEASURED on this project's 2-core machine (the whole stack on two cores:
# load generator, gateway, service, PostgreSQL), `make bench`, 2026-12-07.
# Per core = the figure / 2, so every core of a real cluster is counted as
# carrying its share of the whole stack: conservative.
# ---------------------------------------------------------------------------
MEASURED = {
    # GetDiaryWeek through the gateway, 8 callers, one school
    # (cargo bench -p asurso-gateway --bench through_gateway): 1,279/s in
    # the latest run (2,162/s in an earlier, quieter one); the lower.
    "diary_reads_per_s": 1279,
    # A mark posted and delivered to the parent's open stream: at 100/s
    # offered p99 stays under 40 ms; 1,000/s saturates the two cores
    # (cargo bench -p asurso-notifications --bench mark_to_stream). Not a
    # measurement of its own: the sustainable rate is TAKEN as 500/s,
    # between the two measured points.
    "marks_per_s": 500,
    # Attendance: a lesson's register taken, 30 students, two absent
    # (cargo bench -p asurso-attendance --bench attendance): 778/s, p99
    # 24 ms at one school (654/s, p99 29 ms at ten).
    "register_takes_per_s": 778,
    # Password logins (argon2id, one hash per core at once).
    "password_logins_per_s": 46,
    # GOST: identity verifies ESIA's id_token (2 ms of CPU) and signs two
    # requests with openssl (9 ms of wall time each, a process each)
    # (cargo bench -p asurso-gost --bench gost): an ESIA login costs
    # about 20 ms of one core.
    "esia_logins_per_s": 100,
}
PER_CORE = {name: value / 2 for name, value in MEASURED.items()}

# ---------------------------------------------------------------------------
# ASSUMED: how people use a school diary. Each with its reason.
# ---------------------------------------------------------------------------
# Families per student: siblings share a household.
HOUSEHOLDS_PER_STUDENT = 0.8
# Share of households opening the diary on a school evening (a weekday,
# term time), and calls per opening (the week per child, marks report,
# feed, timetable, a token refresh).
EVENING_OPENING_SHARE = 0.6
CALLS_PER_OPENING = 8
# The evening's openings fall between 18:00 and 23:00; the busiest hour
# holds 35 % of them and its busiest minute runs at 2x that hour's mean.
PEAK_HOUR_SHARE = 0.35
PEAK_MINUTE_FACTOR = 2.0
# The worst evenings and days of the year run at 3x a usual one: the end of
# a term (term marks entered and read at once), the first week of
# September, a push notification storm. Sized for those, not the median.
SURGE_FACTOR = 3.0
# Students in a class; lessons a day; the first lesson's registers are
# taken within 10 minutes of its start, all classes of a time zone at once.
STUDENTS_PER_CLASS = 25
REGISTER_WINDOW_S = 600
# Marks a student gets a school day, posted within 6 teaching hours, the
# busiest hour at 2.5x the mean.
MARKS_PER_STUDENT_DAY = 2
TEACHING_HOURS = 6
MARK_PEAK_FACTOR = 2.5
# Events on the bus per mark: the gradebook's one event (notifications
# keeps its feed in its own database and wakes streams with PostgreSQL's
# NOTIFY, not the bus).
EVENTS_PER_MARK = 1
# A stored event in JetStream (envelope, headers, the stream's index), and
# the days a stream keeps (events/mod.rs: 30 days, of which 22 school days).
BYTES_PER_EVENT = 600
STREAM_SCHOOL_DAYS = 22
# Full logins in the evening peak: refresh tokens (30 days) carry most
# sessions; 5 % of openings log in through ESIA.
ESIA_LOGIN_SHARE = 0.05
# School days a year.
SCHOOL_DAYS = 170
# A mark row with its indexes and the diary read model's share.
BYTES_PER_MARK = 400
# Run at most 60 % of a core at peak (room for a node lost, a deploy).
TARGET_UTILISATION = 0.6

# ---------------------------------------------------------------------------
# LIMITS of one installation as the manifests configure it (k8s/) and of
# what it runs on. ASSUMED where no measurement exists here.
# ---------------------------------------------------------------------------
# Cores one replica may use (its CPU limit, k8s/base/*/deployment.yaml).
CORES_PER_REPLICA = 2
# Connections a service's database allows its replicas: max_connections
# 200 less 10 reserved, and the gradebook's pool of 8 per replica
# (k8s/base/gradebook/kustomization.yaml; k8s/check.py holds the HPA's
# maximum to it).
DB_CONNECTIONS = 190
GRADEBOOK_POOL = 8
# One JetStream stream (one producer's events) with three replicas and
# sync_interval: always: each publish waits for a quorum of fsyncs.
# ASSUMED 5,000 messages/s on data-centre SSDs; NOT measured here (a
# three-server cluster on real disks is the first thing to measure).
STREAM_MSGS_PER_S = 5000
# The gradebook's primary: the largest node a region buys for it, and the
# PostgreSQL CPU per diary read (one lookup by key): ASSUMED 0.3 ms, from
# the bench's split (the whole read path costs ~0.9 ms of CPU per read on
# two cores, of which the service takes the larger part).
PRIMARY_CORES = 32
PG_MS_PER_READ = 0.3
# JetStream's file store on each NATS server (k8s/base/nats/nats.conf,
# max_file_store): every stream of the installation shares it.
NATS_FILE_STORE_BYTES = 200e9
# Rows in one table (or partition) before vacuum and index rebuilds become
# night-long: partition past this.
ROWS_PER_PARTITION = 500_000_000


@dataclass
class Load:
    students: int
    diary_calls_per_s: float
    register_takes_per_s: float
    marks_per_s: float
    esia_logins_per_s: float
    events_per_s: float
    gradebook_events_per_s: float
    marks_rows_per_year: float
    gradebook_stream_bytes: float


def load(students: int, share_in_one_zone: float = 1.0) -> Load:
    """Peak rates for `students`; `share_in_one_zone` of them start lessons
    at the same clock time (the whole country is not in one time zone)."""
    openings = students * HOUSEHOLDS_PER_STUDENT * EVENING_OPENING_SHARE
    peak_openings_per_s = openings * PEAK_HOUR_SHARE / 3600 * PEAK_MINUTE_FACTOR * SURGE_FACTOR
    classes = students / STUDENTS_PER_CLASS
    marks_per_s = (
        students * MARKS_PER_STUDENT_DAY / (TEACHING_HOURS * 3600) * MARK_PEAK_FACTOR * SURGE_FACTOR
    )
    takes_per_s = classes * share_in_one_zone / REGISTER_WINDOW_S
    return Load(
        students=students,
        diary_calls_per_s=peak_openings_per_s * CALLS_PER_OPENING,
        register_takes_per_s=takes_per_s,
        marks_per_s=marks_per_s,
        esia_logins_per_s=peak_openings_per_s * ESIA_LOGIN_SHARE,
        events_per_s=marks_per_s * EVENTS_PER_MARK + takes_per_s,
        gradebook_events_per_s=marks_per_s,
        marks_rows_per_year=students * MARKS_PER_STUDENT_DAY * SCHOOL_DAYS,
        gradebook_stream_bytes=students * MARKS_PER_STUDENT_DAY * STREAM_SCHOOL_DAYS * BYTES_PER_EVENT,
    )


def cores(rate: float, per_core: float) -> float:
    return rate / (per_core * TARGET_UTILISATION)


def limits_for_one_installation() -> list[tuple[str, float]]:
    """For each hard limit, the number of students at which one
    installation reaches it (everything else growing linearly with
    students), lowest first."""
    unit = load(1_000_000)
    per_student = {
        "diary_calls": unit.diary_calls_per_s / 1_000_000,
        "gradebook_events": unit.gradebook_events_per_s / 1_000_000,
        "marks_rows": unit.marks_rows_per_year / 1_000_000,
    }
    gradebook_replicas_by_connections = DB_CONNECTIONS // GRADEBOOK_POOL
    reads_by_connections = gradebook_replicas_by_connections * CORES_PER_REPLICA * PER_CORE["diary_reads_per_s"] * TARGET_UTILISATION
    reads_by_primary = PRIMARY_CORES * TARGET_UTILISATION * 1000 / PG_MS_PER_READ
    stream_bytes_per_student = load(1_000_000).gradebook_stream_bytes / 1_000_000
    return sorted(
        [
            (
                f"gradebook connections: {gradebook_replicas_by_connections} replicas x {GRADEBOOK_POOL} within {DB_CONNECTIONS}",
                reads_by_connections / per_student["diary_calls"],
            ),
            (
                f"gradebook primary CPU: {PRIMARY_CORES} cores at {PG_MS_PER_READ} ms a read",
                reads_by_primary / per_student["diary_calls"],
            ),
            (
                f"GRADEBOOK stream: {STREAM_MSGS_PER_S:,} messages/s (R3, sync always; assumed)",
                STREAM_MSGS_PER_S / per_student["gradebook_events"],
            ),
            (
                f"NATS file store: {NATS_FILE_STORE_BYTES / 1e9:,.0f} GB, the gradebook's 30 days at half of it",
                NATS_FILE_STORE_BYTES / 2 / stream_bytes_per_student,
            ),
        ],
        key=lambda item: item[1],
    )


SCENARIOS = [
    # name, students, share of its students in one time zone
    ("small region", 100_000, 1.0),
    ("typical region (Samara)", 400_000, 1.0),
    ("largest region (Moscow)", 1_500_000, 1.0),
    # Moscow time holds about 60 % of the country's students.
    ("whole country, one installation", 17_000_000, 0.6),
]


def report() -> str:
    lines = [
        "| | students | diary calls/s | registers/s | marks/s | ESIA logins/s | events/s | cores: read path | cores: marks | gradebook replicas | marks rows/year | GRADEBOOK stream, 30 days |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, students, zone in SCENARIOS:
        peak = load(students, zone)
        read_cores = cores(peak.diary_calls_per_s, PER_CORE["diary_reads_per_s"])
        mark_cores = cores(peak.marks_per_s, PER_CORE["marks_per_s"])
        replicas = max(2, math.ceil(read_cores / CORES_PER_REPLICA))
        lines.append(
            f"| {name} | {students:,} | {peak.diary_calls_per_s:,.0f} | {peak.register_takes_per_s:,.0f} "
            f"| {peak.marks_per_s:,.0f} | {peak.esia_logins_per_s:,.1f} | {peak.events_per_s:,.0f} "
            f"| {read_cores:,.1f} | {mark_cores:,.1f} | {replicas} | {peak.marks_rows_per_year / 1e6:,.0f} M "
            f"| {peak.gradebook_stream_bytes / 1e9:,.1f} GB |"
        )
    per_student_rows = load(1_000_000).marks_rows_per_year / 1_000_000
    lines.append("")
    lines.append(
        f"Partition the marks by school year from {ROWS_PER_PARTITION / per_student_rows / 1e6:,.1f} M students "
        f"({ROWS_PER_PARTITION / 1e6:,.0f} M rows in a year's partition); by school year and municipality past that."
    )
    lines.append("")
    lines.append("One installation growing: the hard limit it meets first, and at how many students.")
    lines.append("")
    lines.append("| limit | students |")
    lines.append("|---|---:|")
    for name, students in limits_for_one_installation():
        lines.append(f"| {name} | {students / 1e6:,.1f} M |")
    return "\n".join(lines) + "\n"


def check(document: str) -> int:
    text = open(document, encoding="utf-8").read()
    begin, end = "<!-- model:begin -->\n", "<!-- model:end -->"
    if begin not in text or end not in text:
        print(f"{document}: no model:begin/model:end markers", file=sys.stderr)
        return 1
    shown = text.split(begin, 1)[1].split(end, 1)[0]
    computed = report()
    if shown != computed:
        print(f"{document} shows other numbers than the model computes; paste:\n{computed}", file=sys.stderr)
        return 1
    # The measured figures the document cites are the model's inputs.
    for name in ("diary_reads_per_s", "register_takes_per_s"):
        figure = f"{MEASURED[name]:,}"
        if f"| {figure} " not in text:
            print(f"{document}: the measured {name} ({figure}) is not the one it shows", file=sys.stderr)
            return 1
    # What the document concludes must still hold: one installation per
    # region carries the largest region under every limit, and a single
    # installation for the country does not.
    largest = max(students for _, students, _ in SCENARIOS[:-1])
    first_limit = limits_for_one_installation()[0][1]
    if not largest < first_limit < SCENARIOS[-1][1]:
        print(f"the largest region ({largest:,}) no longer fits, or the country fits ({first_limit:,.0f})", file=sys.stderr)
        return 1
    print(f"{document}: the model's tables match; the first limit is reached at {first_limit / 1e6:.1f} M students")
    return 0


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--check":
        sys.exit(check(sys.argv[2]))
    print(report(), end="")
