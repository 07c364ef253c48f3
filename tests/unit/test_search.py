"""Tokenisation, postings and query matching of the search index (newsdrop.search)."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from newsdrop import search
from newsdrop.local.inprocess import InProcessPipeline


def test_cjk_text_is_indexed_as_unigrams_and_overlapping_bigrams() -> None:
    tokens = search.index_tokens("北向资金")
    assert set(tokens) == {"北", "向", "资", "金", "北向", "向资", "资金"}


def test_latin_words_and_numbers_are_indexed_by_their_prefixes() -> None:
    tokens = search.index_tokens("Earnings 002858")
    assert {"ea", "earn", "earnings", "00", "0028", "002858"} <= set(tokens)
    assert "e" not in tokens and "arn" not in tokens


def test_query_tokens_one_character_overlapping_and_mixed() -> None:
    assert search.query_tokens("蔚") == ["蔚"]
    assert search.query_tokens("新能源汽车") == ["新能", "能源", "源汽", "汽车"]
    assert search.query_tokens("蔚来ET7 汽车") == ["蔚来", "et7", "汽车"]
    assert search.query_tokens("  ,. ") == []


def test_fullwidth_and_case_are_folded() -> None:
    assert search.query_tokens("ＥＴ７") == ["et7"]
    assert search.index_tokens("ＡＢＣ") == search.index_tokens("abc")


def test_postings_round_trip_with_weights() -> None:
    postings = {0: 1, 5: 7, 6: 1, 1000: 35}
    encoded = search.encode_postings(postings)
    assert search.decode_postings(encoded) == postings
    assert encoded.split(",")[1] == "5:7"  # deltas in base 36, weight only when not 1


def test_token_hash_is_fnv1a_over_code_points() -> None:
    # FNV-1a of "a": offset basis xor 0x61, times the FNV prime, mod 2^32 (a published test vector).
    assert search.token_hash("a") == 0xE40C292C
    assert search.token_hash("") == 0x811C9DC5


def _site(posts: dict[str, tuple[str, str]]) -> InProcessPipeline:
    pipeline = InProcessPipeline()
    for n, (title, body) in enumerate(posts.values()):
        text = f'---\ntitle: "{title}"\ndate: 2024-05-{1 + n % 28:02d} 10:00:00\n---\n{body}\n'
        pipeline.upload(f"_posts/2024-05-{1 + n % 28:02d}-p{n}.md", text.encode())
    pipeline.drain()
    return pipeline


def _found(pipeline: InProcessPipeline, query: str) -> list[str]:
    def get(key: str) -> bytes | None:
        blob = pipeline.site.objects.get(key)
        return None if blob is None else blob.body

    return [json.loads(get(search.doc_key(doc)) or b"{}")["t"] for doc in search.search(get, query)]


def test_title_matches_and_frequent_matches_rank_first() -> None:
    pipeline = _site(
        {
            "a": ("市场综述", "半导体 板块 上涨"),
            "b": ("半导体板块大涨", "今日行情"),
            "c": ("早盘", "半导体 半导体 半导体"),
        }
    )
    assert _found(pipeline, "半导体") == ["半导体板块大涨", "早盘", "市场综述"]


def test_deleted_and_updated_posts_leave_the_index() -> None:
    pipeline = _site({"a": ("蔚来汽车发布新车", "正文"), "b": ("央行逆回购", "正文")})
    pipeline.delete("_posts/2024-05-01-p0.md")
    pipeline.upload("_posts/2024-05-02-p1.md", '---\ntitle: "央行降准"\ndate: 2024-05-02\n---\n正文\n'.encode())
    pipeline.drain()
    assert _found(pipeline, "蔚来") == []
    assert _found(pipeline, "逆回购") == []
    assert _found(pipeline, "央行") == ["央行降准"]


CHARS = "北向资金净流入央行半导体蔚来汽车新能源股票代码abc0123 "


@settings(max_examples=25, deadline=None, derandomize=True)
@given(
    bodies=st.lists(st.text(alphabet=CHARS, min_size=1, max_size=40), min_size=1, max_size=8),
    data=st.data(),
)
def test_every_post_containing_the_query_is_found(bodies: list[str], data: st.DataObject) -> None:
    # Recall, against a brute-force substring scan: any substring of any post is a query.
    posts = {str(n): (f"t{n}", body) for n, body in enumerate(bodies)}
    source = data.draw(st.sampled_from(bodies))
    start = data.draw(st.integers(0, len(source) - 1))
    query = source[start : start + data.draw(st.integers(1, 6))].strip()
    if not query or not search.query_tokens(query):
        return
    words = query.split()
    # A Latin word in the middle of a query is matched as a whole word or prefix, not an infix:
    # keep queries whose words start at word boundaries, as a reader types them.
    if not all(any(f" {w}" in f" {search.normalise(b)}" or not w.isascii() for b in bodies) for w in words):
        return
    pipeline = _site(posts)
    expected = {f"t{n}" for n, body in enumerate(bodies) if search.normalise(query) in search.normalise(f"t{n} {body}")}
    found = set(_found(pipeline, query))
    assert expected <= found
