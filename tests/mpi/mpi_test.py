#!/usr/bin/env python3
"""Data-parallel lm-train under real MPI processes (ctest label "mpi"; built with WORDLM_MPI).

    mpi_test.py BIN_DIR SECTION [MPIRUN]
    SECTION: equivalence | resume | kill | signal | corpus | usage | nompi

equivalence  2 ranks x B/2 columns against 1 process x B columns: after 50 batches the weights
             agree to 1e-5 (max |a - b| / max |a| per tensor) and the validation and test
             perplexities to 4 significant digits; also with 2 threads per rank, with Adam, and
             with both gradient exchanges (auto: shared memory on this machine; allreduce).
resume       a run stopped after 25 batches and resumed with the other rank count (1 -> 2, 2 -> 1)
             ends where 50 uninterrupted batches of 1 process end (same tolerance).
kill         SIGKILL to one rank mid-epoch: mpirun exits non-zero within seconds, no rank is left,
             the last resume checkpoint is complete and a new run resumes from it.
signal       SIGUSR1 to mpirun (which forwards it to every rank): a graceful stop, agreed by the
             ranks, exit 0, a resume checkpoint mid-epoch that a single process continues.
corpus       one rank cannot read its corpus: every rank stops with that rank's message, exit 66;
             ranks that read different corpora: exit 65 on every rank.
usage        a batch size the ranks do not divide: exit 64 and the message from every rank.
shm          a /dev/shm too small for the shared parameters: the allreduce is used, and the log says
             why (root only: a small tmpfs in a private mount namespace; else skipped, 77).
nompi        (a build without MPI) mpirun -np 2 lm-train refuses with exit 64.

Every run has a time limit; mpirun is started in its own session and, whatever happens, every
process it started is killed by pid at the end (the ranks are not in mpirun's process group).
Runs as root set OMPI_ALLOW_RUN_AS_ROOT(_CONFIRM); traffic stays on this machine (btl self,vader).
"""
import json
import os
import shlex
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time

BIN = sys.argv[1]
SECTION = sys.argv[2]
TRAIN = os.path.join(BIN, "lm-train")
ENV = dict(os.environ)
if os.geteuid() == 0:
    ENV.update(OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
ENV.update(OMPI_MCA_btl="self,vader", OMPI_MCA_rmaps_base_oversubscribe="1")
MPIRUN = [sys.argv[3] if len(sys.argv) > 3 else "mpirun", "--oversubscribe", "--bind-to", "none"]
failures = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what, flush=True)
    if not cond:
        failures.append(what)


def descendants(pid):
    """Every live process below pid (from /proc), children first found first."""
    kids = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/stat") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
                kids.setdefault(ppid, []).append(int(d))
            except (OSError, IndexError, ValueError):
                pass
    out, todo = [], [pid]
    while todo:
        for k in kids.get(todo.pop(), []):
            out.append(k)
            todo.append(k)
    return out


def alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def exe(pid):
    try:
        return os.path.basename(os.readlink(f"/proc/{pid}/exe"))
    except OSError:
        return ""


class Job:
    """A process (mpirun or lm-train) in its own session, with everything it starts remembered
    so it can all be killed by pid."""

    def __init__(self, args, log):
        self.log = open(log, "w")
        self.p = subprocess.Popen(args, stdout=self.log, stderr=subprocess.STDOUT, env=ENV, start_new_session=True)
        self.seen = set()

    def note(self):
        self.seen.update(descendants(self.p.pid))

    def wait(self, limit):
        end = time.time() + limit
        while time.time() < end:
            self.note()
            if self.p.poll() is not None:
                return self.p.returncode
            time.sleep(0.05)
        return None  # timed out

    def kill_all(self):
        self.note()
        for pid in [self.p.pid] + sorted(self.seen):
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        try:
            self.p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
        self.log.close()

    def left(self):
        return [pid for pid in self.seen if alive(pid)]


def run(args, log, limit=240):
    """Runs to the end (or the limit); returns (exit code or None, output)."""
    j = Job(args, log)
    rc = j.wait(limit)
    j.kill_all()
    with open(log) as f:
        out = f.read()
    if rc is None:
        print(f"timed out after {limit} s: {' '.join(args)}\n{out[-2000:]}")
    return rc, out


def tensors(path):
    """name -> list of floats of every F32 tensor in a safetensors file (standard library only)."""
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    header.pop("__metadata__", None)
    buf = data[8 + n:]
    out = {}
    for name, info in header.items():
        if info["dtype"] == "F32":
            b, e = info["data_offsets"]
            out[name] = struct.unpack(f"<{(e - b) // 4}f", buf[b:e])
    return out


def weight_gap(a_path, b_path):
    a, b = tensors(a_path), tensors(b_path)
    worst = 0.0
    for name, x in a.items():
        if name.startswith(("optim.", "state.")):
            continue
        y = b[name]
        scale = max(max(abs(v) for v in x), 1e-30)
        worst = max(worst, max(abs(u - v) for u, v in zip(x, y)) / scale)
    return worst


def same_digits(a, b, digits=4):
    return f"{a:.{digits - 1}e}" == f"{b:.{digits - 1}e}"


def corpus(tmp, name="syn", tokens=60000):
    path = os.path.join(tmp, name)
    subprocess.run([os.path.join(BIN, "lm-corpus"), "-q", "synth", "--output", path, "--vocab", "300", "--fanout", "8",
                    "--train-tokens", str(tokens), "--valid-tokens", "6000", "--test-tokens", "6000",
                    "--report", os.devnull], check=True, env=ENV)
    return path


def train_args(data, save, *extra, epochs=1):
    return [TRAIN, "--data", data, "--emsize", "24", "--nhid", "24", "--dropout", "0.2", "--batch_size", "8",
            "--bptt", "15", "--epochs", str(epochs), "--log-interval", "1000", "--save", save,
            "--report", save + ".json", *extra]


def report(save):
    with open(save + ".json") as f:
        return json.load(f)


def resume_of(save):  # lm-train's default: x.safetensors -> x.resume.safetensors
    return save[: -len(".safetensors")] + ".resume.safetensors"


def compare(ref, other, what):
    gap = weight_gap(resume_of(ref), resume_of(other))
    check(gap < 1e-5, f"{what}: weights agree to 1e-5 relative (gap {gap:.2e})")
    a, b = report(ref), report(other)
    va, vb = a["partial_epoch"]["valid_ppl"], b["partial_epoch"]["valid_ppl"]
    check(same_digits(va, vb), f"{what}: validation perplexity to 4 digits ({va:.6f} vs {vb:.6f})")
    check(same_digits(a["test_ppl"], b["test_ppl"]), f"{what}: test perplexity to 4 digits "
          f"({a['test_ppl']:.6f} vs {b['test_ppl']:.6f})")


def equivalence(tmp):
    data = corpus(tmp)
    ones = {}
    for opt in ("sgd", "adam"):
        ones[opt] = os.path.join(tmp, f"one-{opt}.safetensors")
        rc, out = run(train_args(data, ones[opt], "--max-batches", "50", "-t", "1", "--optimizer", opt,
                                 *(["--lr", "0.002"] if opt == "adam" else [])), os.path.join(tmp, "one.log"))
        check(rc == 0, f"1 process x 8 columns trains 50 batches ({opt})")
    # auto: the ranks share one copy of the parameters (one machine); allreduce: MPI sums the gradient
    for exchange, threads, opt in (("auto", "1", "sgd"), ("auto", "2", "sgd"), ("auto", "1", "adam"),
                                   ("allreduce", "1", "sgd"), ("allreduce", "2", "sgd"), ("allreduce", "1", "adam")):
        what = f"2 ranks x 4 columns x {threads} threads, {exchange}, {opt}"
        two = os.path.join(tmp, f"two-{exchange}-{threads}-{opt}.safetensors")
        rc, out = run(MPIRUN + ["-np", "2"] + train_args(data, two, "--max-batches", "50", "-t", threads,
                                                         "--gradient-exchange", exchange, "--optimizer", opt,
                                                         *(["--lr", "0.002"] if opt == "adam" else [])),
                      os.path.join(tmp, f"two{threads}.log"))
        check(rc == 0, f"{what}: trains 50 batches")
        if rc != 0:
            print(out[-3000:])
            continue
        compare(ones[opt], two, what)
        r = report(two)
        dp = r["data_parallel"]
        shared = "shared memory" if exchange == "auto" else "allreduce"
        check(r["ranks"] == 2 and dp["gradient_exchange"] == shared and
              dp["embedding_exchange"] == ("sparse" if exchange == "allreduce" else "shared memory"),
              f"{what}: the report records 2 ranks and how they exchanged ({dp['gradient_exchange']})")
        check(out.count("| End of training") == 1, f"{what}: rank 0 alone logs")
        check(("one copy of the parameters in this machine's shared memory" in out) == (exchange == "auto") and
              ("gradients: allreduce" in out) == (exchange == "allreduce"),
              f"{what}: the log says how the gradient is exchanged")


def resume(tmp):
    data = corpus(tmp)
    # Adam: its moments live in shared memory, sliced over the ranks; the resume file has them all
    for opt in ("sgd", "adam"):
        extra = ["--optimizer", opt] + (["--lr", "0.002"] if opt == "adam" else [])
        full = os.path.join(tmp, f"full-{opt}.safetensors")
        rc, _ = run(train_args(data, full, "--max-batches", "50", "-t", "1", *extra), os.path.join(tmp, "full.log"))
        check(rc == 0, f"1 process trains 50 batches ({opt})")
        for first, second in ((1, 2), (2, 1)):
            part = os.path.join(tmp, f"part{first}-{opt}.safetensors")
            launch = lambda n: (MPIRUN + ["-np", str(n)]) if n > 1 else []
            rc, out = run(launch(first) + train_args(data, part, "--max-batches", "25", "-t", "1", *extra),
                          os.path.join(tmp, "p1.log"))
            check(rc == 0, f"{first} rank(s): 25 batches, then a resume checkpoint ({opt})")
            rc, out = run(launch(second) + train_args(data, part, "--max-batches", "25", "-t", "1", "--resume",
                                                      resume_of(part), *extra), os.path.join(tmp, "p2.log"))
            check(rc == 0, f"resumed with {second} rank(s) for 25 more ({opt})")
            if rc != 0:
                print(out[-3000:])
                continue
            compare(full, part, f"{first} -> {second} ranks ({opt})")


def kill(tmp):
    data = corpus(tmp, tokens=400000)
    save = os.path.join(tmp, "k.safetensors")
    res = resume_of(save)
    args = MPIRUN + ["-np", "2"] + train_args(data, save, "-t", "1", epochs=50)
    job = Job(args, os.path.join(tmp, "kill.log"))
    try:
        end = time.time() + 180
        while not os.path.exists(res) and job.p.poll() is None and time.time() < end:  # epoch 1 is over
            job.note()
            time.sleep(0.1)
        check(os.path.exists(res), "epoch 1 wrote a resume checkpoint")
        time.sleep(1.5)  # mid-epoch 2
        job.note()
        ranks = [p for p in descendants(job.p.pid) if exe(p) == "lm-train"]
        check(len(ranks) == 2 and job.p.poll() is None, f"2 ranks running mid-epoch ({ranks})")
        if len(ranks) == 2:
            t0 = time.time()
            os.kill(ranks[-1], signal.SIGKILL)
            rc = job.wait(30)
            took = time.time() - t0
            check(rc is not None and rc != 0, f"mpirun exits non-zero after SIGKILL to a rank (exit {rc})")
            check(rc is not None and took < 10, f"... within seconds ({took:.1f} s)")
            time.sleep(0.5)
            check(not job.left(), f"no process left ({job.left()})")
    finally:
        job.kill_all()
        with open(os.path.join(tmp, "kill.log")) as f:
            print("".join(f.readlines()[-12:]))
    if not os.path.exists(res):
        return
    names = tensors(res)
    check("encoder.weight" in names and "state.h" in names, "the resume checkpoint is complete")
    rc, out = run(train_args(data, save, "--resume", res, "--max-batches", "2",
                             "-t", "1", epochs=50), os.path.join(tmp, "again.log"))
    check(rc == 0 and "resuming" in out, "a new run resumes from it")
    if rc != 0:
        print(out[-2000:])


def signal_stop(tmp):
    data = corpus(tmp, tokens=400000)
    save = os.path.join(tmp, "s.safetensors")
    log = os.path.join(tmp, "signal.log")
    job = Job(MPIRUN + ["-np", "2"] + train_args(data, save, "-t", "1", epochs=50), log)
    try:
        end = time.time() + 120  # until the first log line: training runs, the handler is installed
        while job.p.poll() is None and time.time() < end:
            job.note()
            with open(log) as f:
                if "| epoch   1 |" in f.read():
                    break
            time.sleep(0.1)
        check(job.p.poll() is None, "2 ranks training")
        os.kill(job.p.pid, signal.SIGUSR1)
        rc = job.wait(60)
        check(rc == 0, f"SIGUSR1 to mpirun: a graceful stop, exit 0 (exit {rc})")
    finally:
        job.kill_all()
    check(os.path.exists(save + ".json"), "the graceful stop wrote the report")
    if not os.path.exists(save + ".json"):
        return
    r = report(save)
    check(r["stop_reason"] == "interrupted" and r["ranks"] == 2, "the report says interrupted, 2 ranks")
    rc, out = run(train_args(data, save, "--resume", resume_of(save), "--max-batches", "2", "-t", "1", epochs=50),
                  os.path.join(tmp, "again.log"))
    check(rc == 0 and "resuming" in out, "one process continues from the resume checkpoint")


def corpus_missing(tmp):
    data = corpus(tmp)
    save = os.path.join(tmp, "c.safetensors")
    missing = os.path.join(tmp, "nowhere")
    t0 = time.time()
    rc, out = run(MPIRUN + ["-np", "1"] + train_args(data, save, "-t", "1") + [":", "-np", "1"] +
                  train_args(missing, save, "-t", "1"), os.path.join(tmp, "corpus.log"), limit=60)
    check(rc == 66, f"exit 66 when rank 1 cannot read its corpus (exit {rc}, {time.time() - t0:.1f} s)")
    check(out.count("rank 1 of 2:") == 2 and missing in out, "both ranks print rank 1's message")
    check(not os.path.exists(save), "nothing was written")
    other = corpus(tmp, "other", tokens=50000)  # readable, but not the same corpus
    rc, out = run(MPIRUN + ["-np", "1"] + train_args(data, save, "-t", "1") + [":", "-np", "1"] +
                  train_args(other, save, "-t", "1"), os.path.join(tmp, "other.log"), limit=60)
    check(rc == 65 and out.count("read different corpora") == 2, f"ranks with different corpora: exit 65 (exit {rc})")


def usage(tmp):
    data = corpus(tmp)
    save = os.path.join(tmp, "u.safetensors")
    rc, out = run(MPIRUN + ["-np", "3"] + train_args(data, save, "-t", "1"), os.path.join(tmp, "usage.log"), limit=60)
    check(rc == 64, f"batch 8 over 3 ranks: exit 64 (exit {rc})")
    check(out.count("does not split over 3 processes") == 3, "every rank says why")


def nompi(tmp):
    data = corpus(tmp)
    save = os.path.join(tmp, "n.safetensors")
    rc, out = run(MPIRUN + ["-np", "2"] + train_args(data, save, "-t", "1"), os.path.join(tmp, "nompi.log"), limit=60)
    check(rc == 64 and "this build has no MPI" in out, f"a build without MPI refuses to run as 2 processes (exit {rc})")
    check(not os.path.exists(save), "nothing was written")


def shm(tmp):
    """/dev/shm smaller than the shared parameters need (a container's default is 64 MB): the ranks
    say so and use the allreduce instead of dying of SIGBUS. Needs root (a private tmpfs on
    /dev/shm in a mount namespace); else skipped (77)."""
    if os.geteuid() != 0 or not shutil.which("unshare"):
        print("skipped: needs root and unshare to mount a small /dev/shm")
        sys.exit(77)
    data = corpus(tmp)
    save = os.path.join(tmp, "s.safetensors")
    args = train_args(data, save, "--max-batches", "3", "-t", "1")
    for flag in ("--emsize", "--nhid"):  # ~13 MB of parameters: sharing them needs ~40 MB
        args[args.index(flag) + 1] = "400"
    inner = " ".join(shlex.quote(a) for a in MPIRUN + ["-np", "2"] + args)
    rc, out = run(["unshare", "-m", "sh", "-c", f"mount -t tmpfs -o size=24m tmpfs /dev/shm || exit 77; exec {inner}"],
                  os.path.join(tmp, "shm.log"), limit=120)
    if rc == 77:
        print("skipped: could not mount a tmpfs on /dev/shm here")
        sys.exit(77)
    check(rc == 0, f"2 ranks with a 24 MB /dev/shm train (exit {rc})")
    check("gradients: allreduce, since the machine's shared memory (/dev/shm) has" in out,
          "the log says the shared memory is too small and the allreduce is used")
    check(rc == 0 and report(save)["data_parallel"]["gradient_exchange"] == "allreduce", "the report says allreduce")


SECTIONS = {"equivalence": equivalence, "resume": resume, "kill": kill, "signal": signal_stop, "corpus": corpus_missing,
            "usage": usage, "shm": shm, "nompi": nompi}

if __name__ == "__main__":
    with tempfile.TemporaryDirectory(prefix="wordlm-mpi-") as tmp:
        SECTIONS[SECTION](tmp)
    print(f"{SECTION}: {len(failures)} failure(s)")
    sys.exit(1 if failures else 0)
