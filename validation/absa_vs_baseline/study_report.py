#!/usr/bin/python3
"""study_report.py -- plan/estimate and result tables of study.sh (issue 16).

    study_report.py plan OUT    the plan from study.sh's environment, with an estimated time
    study_report.py table OUT   OUT/table.md from OUT/runs/*/*/ and OUT/estim/*/*/

Cost model of `plan` (seconds on one quiet core, --threads 1): measured on the 2-core development
machine under a load of about 6-7 (other jobs) and divided by 3; see docs/absa_vs_baseline.md.
"""
import glob
import json
import math
import os
import statistics
import sys

# s/sample of a training epoch (forward+backward, FGSM included), s per 128-sample HVP pass,
# s/sample of the test pass, s of one FGSM evaluation (10000 test samples, 3 eps)
COST = {"lenet": dict(train=0.34e-3, hvp=0.09, test=0.1e-3, fgsm=8.0, start=1.0),
        "c1": dict(train=1.6e-3, hvp=0.42, test=0.6e-3, fgsm=35.0, start=2.0)}
ITERS_CONVERGED = 15  # power iterations of a relative-1e-3 estimate (measured 12-13 on both models)


def env(k, d=None):
    return os.environ.get(k, d)


def plan(out):
    models = env("MODELS").split()
    seeds = env("SEEDS").split()
    arms = env("ARMS").split()
    E = int(env("EPOCHS"))
    jobs = int(env("JOBS"))
    total = 0.0
    lines = ["study plan (OUT=%s, %s parallel runs x --threads %s):" % (out, jobs, env("THREADS")),
             "  arms: %s; seeds: %s; %d epochs; lr %s (x0.2 after epochs %s); cap %s; --duration %s; "
             "--growth-ratio 2; eigenvalue 128 samples, 10 iterations, absolute tol 1e-2"
             % (" ".join(arms), " ".join(seeds), E, env("LR"), env("DECAY"), env("MAXB"), env("DURATION"))]
    for m in models:
        c = COST.get(m, COST["c1"])
        n = int(env("LIMIT_" + m))
        tl = int(env("TESTLIM_" + m)) or 10000
        bs, br, bt, bi = env("BETTER_" + m).split()
        bs = int(bs)
        t_run = {}
        for a in arms:
            t = E * (n * c["train"] + tl * c["test"]) + tl * c["test"] + c["start"]
            if a in ("abs", "absa"):
                t += E * 10 * c["hvp"]  # upper bound: eigenvalue every epoch (until the cap)
            if a == "absa-eig+":
                t += E * ITERS_CONVERGED * math.ceil(bs / 128) * c["hvp"]
            t_run[a] = t + c["fgsm"]
        est_eps = env("EST_EPOCHS_" + m).split()
        reps, breps, rs = int(env("EST_REPS")), int(env("EST_BETTER_REPS")), int(env("REF_SAMPLES"))
        t_est = len(est_eps) * (reps * 10 * c["hvp"] + breps * ITERS_CONVERGED * math.ceil(bs / 128) * c["hvp"]
                                + ITERS_CONVERGED * math.ceil(rs / 128) * c["hvp"]
                                + (reps + breps + 1) * c["start"])  # each absa eig loads the data
        t_m = len(seeds) * sum(t_run.values()) + t_est
        total += t_m
        lines.append("  %s: --limit-train %d of 60000, test pass on %s test samples per epoch (FGSM/clean "
                     "evaluation on all 10000); better estimator: %d samples, %s tol %s, <= %s iterations"
                     % (m, n, tl, bs, br, bt, bi))
        lines.append("    per run (core-s): " + ", ".join("%s %.0f" % (a, t) for a, t in t_run.items()))
        lines.append("    estimator at epochs %s: %d x trainer estimate, %d x better, 1 x converged on %d "
                     "samples (relative 1e-3, <= %s iterations): %.0f core-s"
                     % (",".join(est_eps), reps, breps, rs, env("REF_ITERS"), t_est))
    lines.append("  estimated total: %.0f core-s = about %.0f min on %d quiet cores (cost model: "
                 "study_report.py COST; x2-3 on a loaded machine)" % (total, total / jobs / 60, jobs))
    if env("PILOT") != "1":
        lines.append("  cut (vs the paper's 90 epochs on all 60000, cap 16384): epochs 30, --limit-train "
                     "lenet 12000 / c1 6000, cap 1024, c1's per-epoch test on 2000 samples, better estimator "
                     "on 512 samples for c1, 10 (not 20) repeats of the better estimator, c1 estimator at 3 epochs")
    else:
        lines.append("  PILOT: a pipeline check at tiny scale, not a result")
    print("\n".join(lines), flush=True)


def mean_sd(v, fmt="%.2f"):
    v = [x for x in v if x is not None]
    if not v:
        return "-"
    if len(v) == 1:
        return fmt % v[0]
    return (fmt + " ± " + fmt) % (statistics.mean(v), statistics.stdev(v))


def epoch_lines(d):
    rows = []
    with open(os.path.join(d, "metrics.jsonl")) as f:
        for line in f:
            try:
                r = json.loads(line)
            except ValueError:
                continue
            if r.get("type") == "epoch":
                rows.append(r)
    return rows


def load(p):
    try:
        with open(p) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def estimator_rows(out, model, ref_run):
    logged = {r["epoch"]: r for r in epoch_lines(ref_run)} if os.path.isdir(ref_run) else {}
    rows = []
    for d in sorted(glob.glob(os.path.join(out, "estim", model, "epoch_*"))):
        ep = int(d.rsplit("_", 1)[1])
        ref = load(os.path.join(d, "ref-1.json"))
        lam = ref["eigenvalues"][0] if ref else None
        row = {"epoch": ep, "ref": lam, "ref_conv": ref["converged"][0] if ref else None,
               "ref_iters": ref["iterations"][0] if ref else None, "logged": logged.get(ep, {}).get("eig")}
        for kind in ("def", "better"):
            js = [load(p) for p in sorted(glob.glob(os.path.join(d, kind + "-*.json")))]
            js = [j for j in js if j]
            v = [j["eigenvalues"][0] for j in js]
            if not v:
                continue
            pairs = [(a, b) for i, a in enumerate(v) for j, b in enumerate(v) if i != j]
            row[kind + "_values"] = v
            row[kind] = dict(n=len(v), mean=statistics.mean(v), sd=statistics.stdev(v) if len(v) > 1 else 0.0,
                             lo=min(v), hi=max(v), conv=sum(j["converged"][0] for j in js) / len(js),
                             iters=statistics.mean(j["iterations"][0] for j in js),
                             secs=statistics.mean(j["seconds"] for j in js),
                             fire=sum(a <= b / 2 for a, b in pairs) / len(pairs) if pairs else None,
                             samples=js[0]["samples"], rule=js[0]["rule"], tol=js[0]["tol"])
        rows.append(row)
    return rows


def table(out):
    seeds = env("SEEDS").split()
    arms = env("ARMS").split()
    eps = env("FGSM_EPS").split(",")
    txt = ["# ABS/ABSA study (validation/absa_vs_baseline/study.sh)", ""]
    txt.append("%s epochs, lr %s (x0.2 after epochs %s), cap %s, --duration %s, --growth-ratio 2, seeds %s; "
               "mean ± sd over seeds. Test accuracy and FGSM accuracy: fgsm_eval.py (PyTorch) on all 10000 "
               "test samples of the final checkpoint; 'absa acc' is the trainer's own final test accuracy "
               "(on its --limit-test samples) and 'check' says whether fgsm_eval.py's clean accuracy on the "
               "same samples equals it." % (env("EPOCHS"), env("LR"), env("DECAY"), env("MAXB"),
                                          env("DURATION"), " ".join(seeds)))
    for model in env("MODELS").split():
        txt += ["", "## %s (--limit-train %s)" % (model, env("LIMIT_" + model)), ""]
        hdr = ["run", "test acc (%)"] + ["FGSM %s (%%)" % e for e in eps] + \
              ["SGD iterations", "final batch", "wall (s)", "growths eig / duration (+ after the last epoch)", "absa acc (%)", "check"]
        txt += ["| " + " | ".join(hdr) + " |", "|" + "---|" * len(hdr)]
        events = []
        for arm in arms:
            acc, adv, it, fb, wall, ge, gd, aacc, chk = [], {e: [] for e in eps}, [], [], [], [], [], [], []
            glast, diverged = [], []
            E_all = int(env("EPOCHS", "30"))
            for s in seeds:
                d = os.path.join(out, "runs", model, "%s-s%s" % (arm, s))
                sm, fg = load(os.path.join(d, "summary.json")), load(os.path.join(d, "fgsm.json"))
                if not sm and os.path.exists(os.path.join(d, "diverged")):
                    with open(os.path.join(d, "diverged")) as f:
                        why = f.read().strip()
                    diverged.append("seed %s" % s)
                    events.append("%s seed %s: **diverged** (%s); not in the means" % (arm, s, why))
                    continue
                if not sm:
                    continue
                it.append(sm["sgd_iters"]); fb.append(sm["final_batch"]); wall.append(sm["wall_total_s"])
                aacc.append(100 * sm["final_test_acc"])
                rows = epoch_lines(d)
                g = [(r["epoch"], r.get("grow_reason"), r.get("eig"), r.get("eig_ref"), r.get("eig_converged"))
                     for r in rows if r.get("grew")]
                # growths that were trained (a decision after the last epoch only sets next_batch)
                ge.append(sum(1 for x in g if x[1] == "eig" and x[0] < E_all))
                gd.append(sum(1 for x in g if x[1] == "duration" and x[0] < E_all))
                glast.append(sum(1 for x in g if x[0] >= E_all))
                if g:
                    events.append("%s seed %s: " % (arm, s) + ", ".join(
                        "after epoch %d by %s (eig %.3g%s, ref then %.3g)" % (e, why, ev if ev is not None else float("nan"),
                                                                          "" if cv else " not converged", rf if rf is not None else float("nan"))
                        for e, why, ev, rf, cv in g))
                if fg:
                    acc.append(100 * fg["clean_acc"])
                    for e in eps:
                        adv[e].append(100 * fg["fgsm"].get(e, float("nan")))
                    if "clean_acc_first" in fg:
                        chk.append(abs(fg["clean_acc_first"] - sm["final_test_acc"]) < 0.5 / fg["check_first"])
            if not it:
                txt.append("| %s | (%s) |" % (arm, "diverged: " + ", ".join(diverged) if diverged else "not run yet"))
                continue
            cells = [arm + (" (%s diverged)" % ", ".join(diverged) if diverged else ""), mean_sd(acc)] + [mean_sd(adv[e]) for e in eps] + \
                    [mean_sd(it, "%.0f"), "/".join(str(b) for b in fb), mean_sd(wall, "%.0f"),
                     "%d / %d (+%d)" % (sum(ge), sum(gd), sum(glast)), mean_sd(aacc),
                     ("equal" if all(chk) else "DIFFERENT") if chk else "-"]
            txt.append("| " + " | ".join(cells) + " |")
        if events:
            txt += ["", "Growths (epoch lines of metrics.jsonl; the ref is the reference after the decision):", ""]
            txt += ["- " + e for e in events]
        er = estimator_rows(out, model, os.path.join(out, "runs", model, "absa-s%s" % env("EST_SEED")))
        if er:
            txt += ["", "### %s: the estimator on checkpoints of absa seed %s" % (model, env("EST_SEED")), "",
                    "lambda_ref: one estimate on %s samples, relative tol 1e-3, <= %s iterations. bias = (mean - "
                    "lambda_ref)/lambda_ref; CV = sd/mean; P(fire) = fraction of ordered pairs (a, b) of "
                    "independent estimates at the same checkpoint with a <= b/2, i.e. how often the halving "
                    "rule would fire on noise alone; conv = fraction that met the tolerance." %
                    (env("REF_SAMPLES"), env("REF_ITERS")), "",
                    "| epoch | lambda_ref (iters) | trainer's logged | estimator | n | mean | bias | CV | min..max | conv | iters | s each | P(fire) |",
                    "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
            for r in er:
                for kind in ("def", "better"):
                    k = r.get(kind)
                    if not k:
                        continue
                    name = "%d smp, %s %g" % (k["samples"], k["rule"], k["tol"])
                    ref = r["ref"]
                    bias = "%+.1f%%" % (100 * (k["mean"] - ref) / ref) if ref else "-"
                    txt.append("| %d | %s | %s | %s | %d | %.3g | %s | %.2f | %.3g..%.3g | %.2f | %.1f | %.1f | %s |" % (
                        r["epoch"], ("%.3g (%s%s)" % (ref, r["ref_iters"], "" if r["ref_conv"] else ", not conv")) if ref else "-",
                        "%.3g" % r["logged"] if (r["logged"] is not None and kind == "def") else "",
                        name, k["n"], k["mean"], bias, k["sd"] / k["mean"] if k["mean"] else float("nan"),
                        k["lo"], k["hi"], k["conv"], k["iters"], k["secs"],
                        "%.3f" % k["fire"] if k["fire"] is not None else "-"))
        if len(er) > 1 and er[0].get("def"):
            txt += ["", "### %s: would the rule fire between epoch %d and a later epoch?" % (model, er[0]["epoch"]), "",
                    "P(fire) = fraction of pairs (estimate at the later epoch, estimate at epoch %d) of independent "
                    "estimates with later <= earlier/2 (the halving rule with epoch %d as the reference); "
                    "'same sample set' = only the pairs of repeats with the same --seed (same samples and "
                    "start vector at both epochs, as a trainer with a fixed eigenvalue sample set would have); "
                    "'converged says' = whether lambda_ref halved." % (er[0]["epoch"], er[0]["epoch"]), "",
                    "| later epoch | converged says | P(fire), trainer's estimator | same sample set | "
                    "P(fire), better estimator | same sample set | sd of log ratio, trainer's: independent / same set |",
                    "|---|---|---|---|---|---|---|"]
            first = er[0]
            for r in er[1:]:
                cells = []
                for kind in ("def", "better"):
                    a, b = r.get(kind + "_values"), first.get(kind + "_values")
                    cells.append("%.3f" % (sum(x <= y / 2 for x in a for y in b) / (len(a) * len(b))) if a and b else "-")
                    # repeat r uses --seed r at every checkpoint: the same samples and start vector,
                    # what a trainer with a fixed eigenvalue sample set would compare
                    pr = list(zip(a or [], b or []))
                    cells.append("%.3f" % (sum(x <= y / 2 for x, y in pr) / len(pr)) if pr else "-")
                a, b = r.get("def_values"), first.get("def_values")
                if a and b and len(a) > 1 and len(b) > 1:
                    ind = [math.log(x / y) for x in a for y in b]
                    same = [math.log(x / y) for x, y in zip(a, b)]
                    cells.append("%.3f / %.3f" % (statistics.pstdev(ind), statistics.stdev(same) if len(same) > 1 else 0.0))
                else:
                    cells.append("-")
                says = ("halved" if r["ref"] <= first["ref"] / 2 else "not halved (%.2fx)" % (r["ref"] / first["ref"])) \
                    if r["ref"] and first["ref"] else "-"
                txt.append("| %d | %s | %s |" % (r["epoch"], says, " | ".join(cells)))
    text = "\n".join(txt) + "\n"
    tmp = os.path.join(out, "table.md.tmp")
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, os.path.join(out, "table.md"))
    print(text)


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] not in ("plan", "table"):
        sys.exit("usage: study_report.py plan|table OUT (run by study.sh, which sets the environment)")
    (plan if sys.argv[1] == "plan" else table)(sys.argv[2])
