"""The labelled set: every utterance of the bundled samples and of the AMI meetings, objection or not.

Labels live in `bench/labels/<meeting>.tsv` (one row per utterance: seq, label, category, a hash of the text,
a note), made by the procedure in `bench/labels/PROCEDURE.md`. The AMI transcripts themselves are not in the repo;
the hash column pins each row to its utterance, and `check` fails when a file and its transcript disagree.

    uv run --no-sync python -m bench.labelset candidates ES2004a   # the pre-selection a person then judges
    uv run --no-sync python -m bench.labelset write ES2004a --objection 12:price --candidate 40 ...
    uv run --no-sync python -m bench.labelset show ES2004a         # the labelled objections with their text
    uv run --no-sync python -m bench.labelset check                # every label file against its transcript
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path

from bridge.simulator.transcripts import Transcript, load_transcript, sample_names

LABELS = Path(__file__).resolve().parent / "labels"
AMI_DIR = Path("/work/shared/data/qmsum-ami")
AMI_MEETINGS = ("ES2004a", "ES2004b", "ES2004c", "ES2004d")
CATEGORIES = ("price", "need", "timing", "competitor", "authority", "risk", "trust", "security", "integration",
              "contract", "feasibility", "other")

# Pre-selection only (recall first): words and phrases that often come with a concern. A person judges each hit.
_CANDIDATE = re.compile(
    r"\b(?:not sure|don't think|do not think|i doubt|doubt|worr\w*|concern\w*|problem\w*|issue\w*|risk\w*|"
    r"expensive|cost\w*|price\w*|pric\w+|budget|afford|cheap\w*|too (?:much|many|big|small|hard|difficult|long|late|"
    r"early|complicated|expensive)|can't|cannot|won't|wouldn't|shouldn't|couldn't|impossible|difficult|hard to|"
    r"but|however|though|competitor\w*|already (?:have|use|got)|time|deadline|later|not now|approv\w*|"
    r"management|boss|decide|decision|against|disagree|no way|nobody|never|don't need|don't want|why would|"
    r"unless|only if|limit\w*|restrict\w*|requirement\w*|secur\w*|trust|reliab\w*|break|broken|fail\w*|"
    r"complain\w*|annoy\w*|hate|dislike|bad)\b",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Label:
    seq: int
    objection: bool
    category: str
    text_hash: str
    note: str


def text_hash(text: str) -> str:
    return hashlib.sha256(" ".join(text.split()).encode()).hexdigest()[:10]


def transcript_for(meeting: str, ami_dir: Path = AMI_DIR) -> Transcript:
    if meeting in sample_names():
        return load_transcript(meeting)
    path = ami_dir / f"{meeting}.json"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: AMI meeting not found (give --ami-dir)")
    return load_transcript(path)


def label_path(meeting: str) -> Path:
    return LABELS / f"{meeting}.tsv"


def load_labels(meeting: str, transcript: Transcript) -> dict[int, Label]:
    """seq (1-based utterance index) -> label, checked against the transcript row by row."""
    path = label_path(meeting)
    out: dict[int, Label] = {}
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not raw.strip() or raw.startswith("#"):
            continue
        fields = raw.split("\t")
        if len(fields) < 4:
            raise ValueError(f"{path}, line {number}: expected seq, label, category, hash[, note]")
        seq, label, category, digest = int(fields[0]), fields[1], fields[2], fields[3]
        if label not in ("objection", "-"):
            raise ValueError(f"{path}, line {number}: label must be 'objection' or '-', got {label!r}")
        if label == "objection" and category not in CATEGORIES:
            raise ValueError(f"{path}, line {number}: category must be one of {', '.join(CATEGORIES)}")
        out[seq] = Label(seq, label == "objection", category if label == "objection" else "", digest,
                         fields[4] if len(fields) > 4 else "")
    utterances = transcript.utterances
    if sorted(out) != list(range(1, len(utterances) + 1)):
        raise ValueError(f"{path}: labels must cover utterances 1..{len(utterances)} exactly once")
    for seq, label in out.items():
        if text_hash(utterances[seq - 1].text) != label.text_hash:
            raise ValueError(f"{path}: utterance {seq} does not match its label's text hash (transcript changed?)")
    return out


def objections(meeting: str, transcript: Transcript) -> dict[int, Label]:
    return {seq: label for seq, label in load_labels(meeting, transcript).items() if label.objection}


def candidates(transcript: Transcript) -> list[int]:
    """Utterances of anyone (the chair too) with a concern word and at least four words."""
    return [i for i, u in enumerate(transcript.utterances, start=1)
            if _CANDIDATE.search(u.text) and len(u.text.split()) >= 4]


def write(meeting: str, transcript: Transcript, chosen: dict[int, tuple[str, str]], judged: set[int],
          header: str) -> Path:
    rows = [f"# {meeting}: {len(transcript.utterances)} utterances, labelled by bench/labels/PROCEDURE.md",
            *(f"# {line}" for line in header.splitlines() if line.strip()),
            "# seq\tlabel\tcategory\ttext_hash\tnote"]
    for seq, u in enumerate(transcript.utterances, start=1):
        if seq in chosen:
            category, note = chosen[seq]
            rows.append(f"{seq}\tobjection\t{category}\t{text_hash(u.text)}\t{note}")
        else:
            rows.append(f"{seq}\t-\t-\t{text_hash(u.text)}\t{'candidate, judged not' if seq in judged else ''}")
    path = label_path(meeting)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.labelset", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=["candidates", "write", "show", "check"])
    parser.add_argument("meeting", nargs="?")
    parser.add_argument("--ami-dir", type=Path, default=AMI_DIR)
    parser.add_argument("--objection", action="append", default=[], metavar="SEQ:CATEGORY[:NOTE]")
    parser.add_argument("--judged-from", type=Path, help="JSON list of seqs pre-selected and judged (for `write`)")
    parser.add_argument("--header", default="", help="extra comment lines for the file (`write`)")
    args = parser.parse_args(argv)
    meetings = [args.meeting] if args.meeting else [*sample_names(), *AMI_MEETINGS]
    for meeting in meetings:
        transcript = transcript_for(meeting, args.ami_dir)
        if args.command == "candidates":
            for seq in candidates(transcript):
                u = transcript.utterances[seq - 1]
                print(json.dumps({"seq": seq, "speaker": u.speaker, "text": u.text}, ensure_ascii=False))
        elif args.command == "write":
            chosen = {}
            for spec in args.objection:
                seq, category, *note = spec.split(":", 2)
                chosen[int(seq)] = (category, note[0] if note else "")
            judged = set(json.loads(args.judged_from.read_text())) if args.judged_from else set()
            print(write(meeting, transcript, chosen, judged, args.header))
        elif args.command == "show":
            for seq, label in objections(meeting, transcript).items():
                u = transcript.utterances[seq - 1]
                print(f"{meeting} {seq} [{label.category}] {u.speaker}: {u.text}")
        else:
            found = objections(meeting, transcript)
            print(f"{meeting}: {len(transcript.utterances)} utterances labelled, {len(found)} objections")
    return 0


if __name__ == "__main__":
    sys.exit(main())
