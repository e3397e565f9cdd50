"""`cub leaderboard submit|build`: validate runs into submissions, render the static site."""

from __future__ import annotations

import argparse
import sys

DEFAULT_SUBMISSIONS = "leaderboard/submissions"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = ("Validate runs into leaderboard submissions (evaluate runs with submit, `cub attack` runs "
                          "with submit-attack) and build the static leaderboard site.")
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)

    submit = actions.add_parser("submit", help="validate and verify a run and store it as a normalised submission",
                                description="Validate RUN (schema, required tasks, config_hash, task versions, data "
                                            "hashes and sample counts of the registered tasks, their canonical "
                                            "settings), then verify it: every sample id once in "
                                            "RUN/generations/<task>.jsonl, and the generations re-scored here (as "
                                            "`cub score` does) must reproduce every metric, n and CI, and a seeded "
                                            "sample of greedy items re-generated from the weights must give the "
                                            "same tokens. Stores the re-scored numbers. See docs/trust.md.")
    submit.add_argument("run", metavar="RUN", help="run directory with results.json and generations/ "
                                                    "(or its results.json)")
    submit.add_argument("--to", default=DEFAULT_SUBMISSIONS, metavar="DIR",
                        help=f"submissions folder (default {DEFAULT_SUBMISSIONS})")
    submit.add_argument("--require", metavar="TASK[,TASK...]",
                        help="tasks that must be completed (default: at least one forget and one utility task)")
    submit.add_argument("--force", action="store_true", help="replace an existing submission of the same model+config")
    submit.add_argument("--regenerate-samples", type=int, default=3, metavar="N",
                        help="greedy items per task re-generated from the weights the results name, on the run's "
                             "backend and dtype; their token ids must equal the submitted ones (default 3)")
    submit.add_argument("--regenerate-seed", type=int, metavar="S",
                        help="seed of the re-generated sample (default: drawn now; recorded either way)")
    submit.add_argument("--no-regenerate", action="store_true",
                        help="skip re-generation; the site then marks the submission \"not re-generated\"")

    attack = actions.add_parser(
        "submit-attack", help="validate a `cub attack` run of a submitted model and store it beside its submission",
        description="Validate ATTACK_RUN (schema, kind attack, the attacked model's fingerprint matching a submission "
                    "in DIR, task versions and data hashes matching that submission's) and store it under "
                    "DIR/attacks/; `cub leaderboard build` then shows its robustness figures.")
    attack.add_argument("run", metavar="ATTACK_RUN", help="attack run directory (or its results.json)")
    attack.add_argument("--to", default=DEFAULT_SUBMISSIONS, metavar="DIR",
                        help="submissions folder holding the attacked model's submission "
                             f"(default {DEFAULT_SUBMISSIONS})")
    attack.add_argument("--force", action="store_true", help="replace an existing submission of the same attack run")

    build = actions.add_parser("build", help="render the static site from the submissions",
                               description="Render a self-contained static site (no external assets). Attack "
                                           "submissions under DIR/attacks/ add robustness columns.")
    build.add_argument("--submissions", default=DEFAULT_SUBMISSIONS, metavar="DIR",
                       help=f"submissions folder (default {DEFAULT_SUBMISSIONS})")
    build.add_argument("--out", required=True, metavar="DIR", help="output folder for the site")
    build.add_argument("--utility", metavar="TASK", help="utility task (default: humaneval if present, else heldout)")
    build.add_argument("--title", default="Code unlearning leaderboard")


def run(args: argparse.Namespace) -> int:
    if args.action == "submit-attack":
        from code_unlearn_bench.leaderboard.submit import submit_attack

        # a SubmissionError is a CubError: one line, every problem joined by "; "
        print(f"submitted {submit_attack(args.run, args.to, force=args.force)}")
        return 0
    if args.action == "submit":
        from code_unlearn_bench.leaderboard.submit import SubmissionError, submit

        required = [t.strip() for t in args.require.split(",") if t.strip()] if args.require else None
        try:
            from code_unlearn_bench.leaderboard.regenerate import Regenerate

            # checked now: a bad count fails before the (slow) verification
            regenerate = None if args.no_regenerate else \
                Regenerate(args.regenerate_samples, args.regenerate_seed).checked()
            path = submit(args.run, args.to, required=required, force=args.force, regenerate=regenerate)
        except SubmissionError as exc:
            # A list, not the one-line error: the submitter should see every problem at once.
            print(f"cub: error: {args.run} cannot be submitted:", file=sys.stderr)
            for problem in exc.errors:
                print(f"  - {problem}", file=sys.stderr)
            return 2
        print(f"submitted {path}")
        return 0

    from code_unlearn_bench.leaderboard.build import build_site

    index = build_site(args.submissions, args.out, utility=args.utility, title=args.title)
    print(f"built {index}")
    return 0
