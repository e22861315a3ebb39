#!/usr/bin/env python3
"""Write the tokenizer agreement corpus: one JSON string per line (so records can hold
newlines, tabs, carriage returns and trailing spaces exactly).

    python tests/py/tok_make_corpus.py OUT.jsonl

Deterministic for a given Python stdlib: it mixes
  * lines and multi-line blocks (code, comments, docstrings) from fixed Python stdlib modules,
    read from the running interpreter's stdlib at generation time (nothing is committed);
  * hand-written multilingual prose: CJK, Arabic, Hebrew, Devanagari, Thai, Cyrillic, Greek,
    precomposed and combining accents;
  * emoji: single, skin tones, ZWJ sequences, flags, keycaps, variation selectors;
  * whitespace runs: spaces, tabs, newlines, CR/LF, trailing, NBSP and other Unicode spaces;
  * numbers: integers of every length, decimals, grouping, dates, hex, scientific;
  * special tokens inline (<|im_start|>, <|im_end|>, <|endoftext|>, <file_sep>, ...), whole,
    adjacent, glued to text and broken (near misses);
  * random mixtures of all of the above (seeded).
"""

import json
import os
import random
import sys
import sysconfig

STDLIB_MODULES = [
    "textwrap.py", "argparse.py", "difflib.py", "string.py", "heapq.py", "bisect.py",
    "calendar.py", "fractions.py", "statistics.py", "json/decoder.py", "json/encoder.py",
    "csv.py", "shlex.py", "fnmatch.py", "glob.py", "locale.py", "gettext.py", "dataclasses.py",
    "enum.py", "functools.py", "contextlib.py", "abc.py", "operator.py", "random.py",
    "html/parser.py", "email/utils.py", "urllib/parse.py", "http/client.py", "zipfile.py",
    "this.py", "antigravity.py", "colorsys.py", "pprint.py", "reprlib.py", "codecs.py",
    "unittest/case.py", "logging/__init__.py", "asyncio/queues.py", "sqlite3/__init__.py",
]

PROSE = [
    "The capital of France is Paris, and the capital of Japan is Tokyo.",
    "She said, \"I'm not sure they'll come; we've waited since 3 o'clock.\"",
    "DON'T SHOUT. It's fine — really, it’s fine… isn’t it?",
    "Photosynthesis converts light energy into chemical energy stored in glucose.",
    "In 1969, Apollo 11 landed on the Moon; Neil Armstrong stepped out at 02:56 UTC.",
    "E = mc², ∑ᵢ xᵢ² ≥ 0, ∀x ∈ ℝ: x² ≥ 0, and √2 ≈ 1.41421356.",
    "Prices: $19.99, €5,50, £3.20, ¥1200, ₹499 — 15% off (until 2024-12-31).",
    "Mr. O'Neil's dog (a 3-year-old beagle) ate the neighbours' pie!",
    "Tabs\tseparate\tthese\tfields\tand  two  spaces  separate  these.",
    "email: jane.doe+test@example.co.uk, url: https://example.org/a/b?c=1&d=%20x#frag",
]

MULTILINGUAL = [
    "北京是中华人民共和国的首都，也是全国的政治和文化中心。",
    "机器学习是人工智能的一个分支。它使计算机能够从数据中学习。",
    "東京は日本の首都です。桜の季節はとても美しいです。",
    "ひらがなとカタカナ、そして漢字を混ぜて書きます：コンピューター。",
    "서울은 대한민국의 수도입니다. 한국어는 한글로 씁니다.",
    "اللغة العربية من أكثر اللغات انتشاراً في العالم.",
    "مرحبا بالعالم! كيف حالك اليوم؟ ١٢٣٤٥٦٧٨٩٠",
    "שלום עולם, זהו משפט בעברית עם ניקוד: בְּרֵאשִׁית",
    "हिन्दी भारत की एक प्रमुख भाषा है। नमस्ते दुनिया!",
    "ภาษาไทยไม่มีการเว้นวรรคระหว่างคำ สวัสดีครับ",
    "Москва — столица России. Съешь же ещё этих мягких французских булок.",
    "Ελληνικά: Γειά σου Κόσμε! Η γλώσσα είναι όμορφη.",
    "Ünïcödé àccênts: café, naïve, façade, jalapeño, Ångström, Øresund, Łódź, Đakovo.",
    "Combining marks: cafe\u0301, nai\u0308ve, A\u030angstro\u0308m, n\u0303, e\u0301\u0301\u0301.",
    "Vietnamese: Tiếng Việt có nhiều dấu: ă â ê ô ơ ư đ ầ ẩ ẫ ấ ậ.",
    "Türkçe: İstanbul, ığdır, şçöü; Deutsch: Straße, Größe, Äpfel.",
    "Zalgo: Z\u0351\u036b\u0343a\u0352\u0351l\u0313\u036cg\u0350o\u0358\u0336",
    "Math: 𝔸𝔹ℂ 𝒜ℬ𝒞 𝐀𝐁𝐂 ∮ ∂ ∇ ⊗ ⊕ ≠ ≤ ≥ ∞ ∅ ∫₀¹ f(x) dx",
    "Box: ┌─┬─┐ │ │ │ ├─┼─┤ └─┴─┘ ░▒▓█ ←↑→↓ ⇒ ⇔",
    "Mixed: English, 中文, العربية, русский, 日本語 and हिन्दी in one line.",
    "Invisible: zero\u200bwidth\u200cnon\u200djoiner, bom\ufeffhere, rtl\u200fmark\u200e, soft\u00adhyphen",
    "Fullwidth: ＡＢＣ１２３！？ and halfwidth ｶﾀｶﾅ",
    "Old scripts: 𓀀𓀁𓀂 (hieroglyphs), 𐌰𐌱𐌲 (Gothic), ᚠᚢᚦ (runes)",
]

EMOJI = [
    "I love pizza 🍕 and sushi 🍣!",
    "Thumbs up 👍 👍🏻 👍🏼 👍🏽 👍🏾 👍🏿",
    "Family: 👨‍👩‍👧‍👦 👩‍👩‍👦 👨‍👨‍👧‍👧",
    "Professions: 👩‍💻 👨‍🚀 🧑‍🔬 👩🏽‍⚕️ 🧑🏿‍🍳",
    "Flags: 🇫🇷 🇯🇵 🇺🇸 🇧🇷 🇺🇦 🏴‍☠️ 🏳️‍🌈 🏴󠁧󠁢󠁳󠁣󠁴󠁿",
    "Keycaps: 1️⃣ 2️⃣ #️⃣ *️⃣ 🔟",
    "Hearts: ❤️ ❤ ♥️ 💔 ❤️‍🔥 ❤️‍🩹 🫶",
    "Text vs emoji presentation: ☺ ☺️ ✌ ✌️ ✔ ✔️",
    "New emoji: 🫠 🫨 🪿 🫎 🩷 🐦‍⬛ 🍋‍🟩",
    "🔥🔥🔥 lit 🚀🚀 to the moon 🌕✨",
    "😀😃😄😁😆😅🤣😂🙂🙃😉😊😇🥰😍🤩😘",
    "Kiss: 💏 👩‍❤️‍💋‍👨 couple: 💑 👩‍❤️‍👩",
]

SPECIALS = [
    "<|im_start|>", "<|im_end|>", "<|endoftext|>", "<repo_name>", "<file_sep>", "<filename>",
    "<gh_stars>", "<issue_start>", "<issue_comment>", "<issue_closed>", "<jupyter_start>",
    "<jupyter_text>", "<jupyter_code>", "<jupyter_output>", "<empty_output>",
]

NEAR_MISSES = [
    "<|im_start", "im_start|>", "<|im_end|", "<| im_end |>", "<|IM_END|>", "<|endoftext",
    "<|im_start|", "<file_sep", "</file_sep>", "<<|im_end|>>", "<|<|im_start|>|>",
]


def stdlib_records(rng):
    root = sysconfig.get_paths()["stdlib"]
    out = []
    for name in STDLIB_MODULES:
        path = os.path.join(root, name)
        try:
            with open(path, encoding="utf-8") as f:
                lines = f.read().split("\n")
        except OSError:
            continue
        # Single lines (indentation and trailing whitespace kept), every k-th line.
        nonblank = [l for l in lines if l.strip()]
        step = max(1, len(nonblank) // 40)
        out.extend(nonblank[::step][:40])
        # Multi-line blocks: code with its newlines and indentation.
        for _ in range(6):
            if len(lines) < 10:
                break
            i = rng.randrange(0, len(lines) - 8)
            out.append("\n".join(lines[i:i + rng.randrange(2, 9)]))
    return out


def whitespace_records():
    out = []
    for k in range(1, 17):
        out.append("a" + " " * k + "b")
        out.append("word" + " " * k)
        out.append(" " * k + "indented")
        out.append("x" + "\t" * k + "y")
        out.append("line" + "\n" * k + "next")
    for ws in [" ", "  ", "\t", "\n", "\r\n", "\r", " \n", "\n ", " \t ", "\t\n", "\n\n\n",
               "\u00a0", "\u2003", "\u3000", "\u2009", "\u202f", "\x0b", "\x0c", "\x85",
               "\u2028", "\u2029"]:
        out.append("alpha" + ws + "beta" + ws)
        out.append(ws * 3)
        out.append(ws + "lead and trail" + ws)
    out.append("trailing spaces   ")
    out.append("   ")
    out.append("\t")
    out.append("def f():\n    return 1\n\n\nclass A:\n\tpass\n")
    out.append("windows\r\nline\r\nendings\r\n")
    out.append("  \n  \n  ")
    return out


def number_records(rng):
    out = []
    for n in range(1, 26):
        out.append(str(rng.randrange(10 ** (n - 1), 10 ** n)))
    for _ in range(60):
        a, b = rng.randrange(0, 10 ** 6), rng.randrange(0, 10 ** 4)
        out.append(rng.choice([
            f"{a}.{b}", f"{a:,}", f"-{a}", f"+{a}e-{b % 40}", f"{a} + {b} = {a + b}",
            f"0x{a:x}", f"0b{b:b}", f"{a % 2030}-{b % 12 + 1:02d}-{a % 28 + 1:02d}",
            f"{a % 24:02d}:{b % 60:02d}:{(a + b) % 60:02d}", f"{a / (b + 1):.6f}",
            f"v{a % 10}.{b % 20}.{a % 7}", f"({a % 1000}) {b:04d}-{a % 10000:04d}",
            f"{a}%", f"#{b}", f"{a}km/h", f"1/{b + 1}", f"{a}th", f"３４５６{a}",
        ]))
    out.append("3.14159265358979323846264338327950288419716939937510")
    out.append("1,234,567.89 vs 1.234.567,89 vs 1 234 567,89")
    out.append("Arabic-Indic ٠١٢٣٤٥٦٧٨٩ Devanagari ०१२३४५६७८९ Roman Ⅻ superscript ²³ fractions ½¾")
    return out


def special_records(rng):
    out = [
        "<|im_start|>user\nWhat is the capital of France?<|im_end|>\n<|im_start|>assistant\nParis.<|im_end|>\n",
        "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n",
        "<|endoftext|>",
        "Hello<|endoftext|>World",
        "<|im_end|><|im_start|><|im_end|>",
        " <|im_end|> ",
        "text <|im_start|> text",
        "<file_sep>main.py\nimport os\n<file_sep>",
        "<jupyter_code>print(1)<jupyter_output>1<empty_output>",
        "<repo_name>huggingface/smollm<filename>README.md<gh_stars>1000",
    ]
    for s in SPECIALS + NEAR_MISSES:
        out.append(f"before{s}after")
        out.append(f"{s}\n{rng.choice(PROSE)}")
    return out


def mixtures(rng, pools, n):
    out = []
    for _ in range(n):
        parts = [rng.choice(rng.choice(pools)) for _ in range(rng.randrange(2, 5))]
        seps = ["", " ", "\n", "  ", "\t", ", ", "\n\n"]
        s = parts[0]
        for p in parts[1:]:
            s += rng.choice(seps) + p
        # Sometimes cut at a random character position (odd boundaries).
        if rng.random() < 0.3 and len(s) > 4:
            s = s[: rng.randrange(1, len(s))]
        out.append(s)
    return out


def main():
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    rng = random.Random(20240531)
    code = stdlib_records(rng)
    ws = whitespace_records()
    nums = number_records(rng)
    specials = special_records(rng)
    records = PROSE + MULTILINGUAL + EMOJI + ws + nums + specials + code
    # Words of the hand-written pools, for mixtures at word granularity.
    words = [w for line in PROSE + MULTILINGUAL + EMOJI for w in line.split(" ") if w]
    records += mixtures(rng, [PROSE, MULTILINGUAL, EMOJI, SPECIALS, NEAR_MISSES, nums, words, code], 1200)
    records.append("")
    with open(sys.argv[1], "w", encoding="utf-8") as f:
        for r in records:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
    nonempty = sum(1 for r in records if r)
    print(f"tok_make_corpus: {len(records)} records ({nonempty} non-empty, {len(code)} from the stdlib at "
          f"{sysconfig.get_paths()['stdlib']}) -> {sys.argv[1]}", file=sys.stderr)


if __name__ == "__main__":
    main()
