"""Tokenisation, postings, sharding and query matching of the search index (newsdrop.search)."""

from __future__ import annotations

import re
import sys
import unicodedata
from pathlib import Path

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from newsdrop import search
from newsdrop.local.inprocess import InProcessPipeline
from newsdrop.rendering import writer
from newsdrop.stages import index
from tests.support.search import expected_index, found_documents, site_get


def test_cjk_text_is_indexed_as_characters_and_overlapping_bigrams() -> None:
    tokens = search.index_tokens("北向资金")
    assert set(tokens) == {"北", "向", "资", "金", "北向", "向资", "资金"}


def test_latin_words_and_numbers_are_indexed_by_their_1_2_and_3_grams() -> None:
    tokens = search.index_tokens("Bank 002858")
    assert {"b", "ba", "ban", "ank", "an", "k", "002", "028", "285", "858", "58", "8"} <= set(tokens)
    assert "bank" not in tokens and "0028" not in tokens  # longer queries are covered by 3-grams
    assert tokens["0"] == 2 and tokens["00"] == 1


def test_a_title_occurrence_outweighs_any_number_of_body_occurrences() -> None:
    weights = search.weights("金价", "金价 金 " + "银" * 40)
    assert weights["金价"] == 5 + 1  # once in the title, once in the body
    assert weights["金"] == 5 + 2 and weights["价"] == 5 + 1
    assert weights["银"] == 4 and weights["银银"] == 4  # 40 and 39 occurrences in the body: below one in a title
    assert search.weights("银" * 10, "")["银"] == 35  # ten in the title: the most one base-36 digit holds
    assert search.weights("", "") == {}
    assert search.weights("Au", "")["au"] == 5


def test_posts_with_the_query_in_their_title_rank_above_those_with_it_only_in_their_body() -> None:
    pipeline = InProcessPipeline()
    posts = [("产品发布", "新的产品。"), ("冷却液", "产品" * 30), ("铝业：没有深加工产品", "正文")]
    for n, (title, body) in enumerate(posts):
        pipeline.upload(f"_posts/2024-05-2{n}-p{n}.md", f"---\ntitle: {title}\n---\n{body}\n".encode())
    pipeline.drain()
    site = {key: blob.body for key, blob in pipeline.site.objects.items()}
    titles = [document["t"] for document in found_documents(site.get, "产品")]
    assert titles[-1] == "冷却液" and len(titles) == 3


def test_only_the_text_a_document_carries_is_indexed() -> None:
    # The browser shows a post once it finds the query in the document's text: a token found only
    # past it would name a post it cannot show (and fill the manifest's log).
    filler = "甲" * (search.DOC_TEXT_CHARS - 2)
    weights = search.weights("标题", filler + "北向" + "资金流入")
    assert "北向" in weights and "资金" not in weights and "流入" not in weights
    document = search.Document(7, "/a.html", "标题", "2024-05-20", filler + "北向" + "资金流入")
    assert document.postings() == weights
    assert "资金" not in document.to_json()["x"]  # what the browser checks a candidate against
    assert search.weights("标题", "资金") == {"标": 5, "题": 5, "标题": 5, "资": 1, "金": 1, "资金": 1}


def test_query_tokens_cover_the_query_with_the_fewest_grams() -> None:
    assert search.query_tokens("蔚") == ["蔚"]  # one character
    assert search.query_tokens("蔚来") == ["蔚来"]
    assert search.query_tokens("新能源") == ["新能", "能源"]  # overlapping: the last bigram ends the query
    assert search.query_tokens("北向资金") == ["北向", "资金"]
    assert search.query_tokens("新能源汽车") == ["新能", "源汽", "汽车"]
    assert search.query_tokens("2858") == ["285", "858"]  # the middle of 002858
    assert search.query_tokens("002858") == ["002", "858"]
    assert search.query_tokens("et") == ["et"] and search.query_tokens("x") == ["x"]
    assert search.query_tokens("蔚来ET7 汽车") == ["蔚来", "et7", "汽车"]
    # A point or comma between digits is part of the number: few posts hold `1.8`, nearly all `1` and `8`.
    assert search.query_tokens("1.8%") == ["1.8"]
    assert search.query_tokens("10,000元") == ["10,", "000", "元"]
    assert search.query_tokens("8.") == ["8"] and search.query_tokens("v1..8") == ["v1", "8"]
    assert search.query_tokens("600519.SH") == ["600", "519", "sh"]
    assert search.query_tokens("  ,. ") == []


def test_every_query_token_is_an_index_token_of_the_query() -> None:
    for query in ["北向资金净流入", "databank", "600160", "蔚来ET7", "a", "涨"]:
        assert set(search.query_tokens(query)) <= set(search.index_tokens(query)), query


def test_a_character_is_cjk_alike_by_code_point_and_in_the_runs_of_a_text() -> None:
    # Short tokens are told by `_is_cjk` (code points), a text's runs by the regular expression's class.
    cjk_class = re.compile(f"[{search._CJK}]")
    edges = [code + step for low, high in search._CJK_RANGES for code in (low, high) for step in (-1, 0, 1)]
    for code in [*edges, ord("a"), ord("中"), ord("가"), ord("あ"), ord("𠀀")]:
        assert search._is_cjk(chr(code)) == (cjk_class.fullmatch(chr(code)) is not None), hex(code)
    assert search._is_cjk("中") and not search._is_cjk("a")


def test_fullwidth_and_case_are_folded() -> None:
    assert search.query_tokens("ＥＴ７") == ["et7"]
    assert search.index_tokens("ＡＢＣ") == search.index_tokens("abc")


def test_what_a_reader_does_not_see_in_a_word_is_folded_away() -> None:
    # Text copied from the web carries zero-width spaces, word joiners, byte-order marks and soft
    # hyphens inside words; lower-casing `İ` leaves a combining dot; a word-final sigma is a sigma.
    copied = "北向\u200b资金 Ali\u2060baba 新能\ufeff源\u00ad汽车 İSTANBUL ΠΑΣΟΚ ΠΑΣ"
    assert search.normalise(copied) == "北向资金 alibaba 新能源汽车 istanbul πασοκ πασ"
    for query in ("北向资金", "alibaba", "新能源汽车", "istanbul", "İstanbul", "πασ", "Σ"):
        assert set(search.query_tokens(query)) <= set(search.index_tokens(copied)), query


def test_the_folded_characters_are_the_format_characters_and_variation_selectors() -> None:
    folded = {chr(code) for code, to in search._FOLDS.items() if to is None}
    formats = {chr(code) for code in range(sys.maxunicode + 1) if unicodedata.category(chr(code)) == "Cf"}
    selectors = {chr(c) for c in (*range(0xFE00, 0xFE10), *range(0xE0100, 0xE01F0), *range(0x180B, 0x1810), 0x034F)}
    assert folded == formats | selectors | {"\u0307"}


def test_search_js_folds_the_same_characters_as_search_py() -> None:
    # The page checks the text it fetched with its own `normalise`: a character folded on one side
    # alone would make a post the index offers fail the page's check.
    script = (Path(search.__file__).parent / "rendering" / "static" / "search.js").read_text(encoding="utf-8")
    found = re.search(r"var INVISIBLE = /\[(.*?)\]/gu;", script)
    assert found is not None
    in_script = {
        code
        for low, high in re.findall(r"\\u\{?([0-9A-F]+)\}?(?:-\\u\{?([0-9A-F]+)\}?)?", found.group(1))
        for code in range(int(low, 16), int(high or low, 16) + 1)
    }
    assert in_script == {code for low, high in search._INVISIBLE_RANGES for code in range(low, high + 1)}
    assert r'.replace(/\u03C2/g, "\u03C3")' in script  # a final sigma, as _FOLDS


def test_a_long_query_asks_for_a_handful_of_its_tokens_spread_over_it() -> None:
    sentence = "北向资金今日午后加速流入，全天净买入超过45亿元，其中沪股通净买入28亿元"
    whole = [
        t
        for kind, run in search._runs(search.normalise(sentence))
        for t in search._cover(run, 2 if kind == "cjk" else 3)
    ]
    unique, tokens = list(dict.fromkeys(whole)), search.query_tokens(sentence)
    assert len(tokens) == search.MAX_QUERY_TOKENS < len(unique)
    assert set(tokens) <= set(whole) and [tokens[0], tokens[-1]] == [unique[0], unique[-1]]
    assert search.query_tokens("北向资金") == ["北向", "资金"]  # a short query keeps every token


def test_postings_are_newest_first_with_distances_and_weights() -> None:
    postings = {0: 1, 5: 7, 6: 1, 1000: 35}
    encoded = search.encode_postings(postings)
    assert encoded == "rs:z,rm,1:7,5"  # 1000 whole (base 36), then 994 below it, 1 below, 5 below
    assert search.decode_postings(encoded) == postings


@given(
    st.dictionaries(
        # Weights past MAX_WEIGHT too: a mapping's, which a packed document never holds.
        st.integers(0, 5000),
        st.dictionaries(st.sampled_from("abcdef北向"), st.integers(1, 99)),
        max_size=8,
    )
)
def test_a_table_holds_each_tokens_postings_as_encoded_alone(documents: dict[int, dict[str, int]]) -> None:
    table = search.table_of(documents)
    tokens = {token for weights in documents.values() for token in weights}
    assert set(table) == tokens
    for token in tokens:
        postings = {doc: weights[token] for doc, weights in documents.items() if token in weights}
        assert table[token] == search.encode_postings(postings)


@given(
    st.dictionaries(
        st.integers(0, 5000),
        st.dictionaries(st.text(st.sampled_from("ab北\x00"), min_size=1, max_size=3), st.integers(1, 40), max_size=6),
        max_size=6,
    )
)
def test_packed_weights_read_back_as_they_were_or_are_not_packed(documents: dict[int, dict[str, int]]) -> None:
    packed = {doc: search.Packed.of(weights) for doc, weights in documents.items()}
    for doc, weights in documents.items():
        unpackable = any("\x00" in token for token in weights) or any(w > search.MAX_WEIGHT for w in weights.values())
        assert (packed[doc] is None) == unpackable
    kept = {doc: documents[doc] for doc, found in packed.items() if found is not None}
    assert {doc: dict(found.items()) for doc, found in packed.items() if found is not None} == kept
    # the index's table is the same whichever form its documents come in
    assert search.table_of({doc: found for doc, found in packed.items() if found is not None}) == search.table_of(kept)


@pytest.mark.parametrize(("tokens", "weights"), [("a", b""), ("a\0b", b"\x01"), ("", b"\x01\x02")])
def test_packed_tokens_and_weights_that_disagree_are_an_error_not_fewer_postings(tokens: str, weights: bytes) -> None:
    with pytest.raises(ValueError):
        list(search.Packed(tokens, weights).items())


@given(st.lists(st.dictionaries(st.integers(0, 3000), st.integers(1, 35), min_size=1), min_size=1, max_size=4))
def test_merging_postings_is_their_union(lists: list[dict[int, int]]) -> None:
    expected: dict[int, int] = {}
    for postings in lists:
        expected.update(postings)
    for postings in lists:  # a document's weight is the same wherever it is listed
        postings.update({doc: expected[doc] for doc in postings})
    merged = search.merge_postings([search.encode_postings(p) for p in lists], None)
    assert search.decode_postings(merged) == expected
    assert merged == search.encode_postings(expected)  # the same text whichever way it was merged


def test_merging_postings_drops_deleted_documents() -> None:
    newer, older = search.encode_postings({90: 1, 80: 2}), search.encode_postings({10: 1, 5: 1})
    deleted = {80, 5}

    def drop(low: int, high: int) -> bool:
        return any(low <= d <= high for d in deleted)

    assert search.decode_postings(search.merge_postings([older, newer], drop)) == {90: 1, 10: 1}
    assert search.merge_postings([newer, older], lambda low, high: False) == search.encode_postings(
        {90: 1, 80: 2, 10: 1, 5: 1}
    )


@given(st.text(min_size=1, max_size=3), st.integers(1, 700), st.integers(1, 700))
def test_a_shard_range_holds_every_token_of_the_shard(token: str, shards: int, other: int) -> None:
    shard = search.shard_of(token, shards)
    assert 0 <= shard < shards
    assert search.shard_of(token, other) in search.shard_range(shard, shards, other)


def test_token_hash_is_fnv1a_over_code_points() -> None:
    # FNV-1a of "a": offset basis xor 0x61, times the FNV prime, mod 2^32 (a published test vector).
    assert search.token_hash("a") == 0xE40C292C
    assert search.token_hash("") == 0x811C9DC5


@pytest.mark.parametrize(
    ("token", "shards", "expected"),
    [
        # FNV-1a of "a" is 0xE40C292C: its top 4 bits, 0xE, are its shard of 16.
        ("a", 16, 0xE),
        ("a", 2, 1),
        # 0xE40C292C / 2**32 = 0.8908...: of 3 shards the third, of 100 the 90th (89 from 0).
        ("a", 3, 2),
        ("a", 100, 89),
        # The empty text hashes to the offset basis, 0x811C9DC5: just past the middle of the range.
        ("", 16, 0x8),
        ("", 100, 50),
        ("a", 1, 0),
    ],
)
def test_a_token_s_shard_is_its_place_in_the_hash_range_as_search_js_computes_it(
    token: str, shards: int, expected: int
) -> None:
    # search.js: Math.floor(tokenHash(token) * shards / 4294967296); the browser reads that shard.
    assert search.shard_of(token, shards) == expected


def test_a_run_without_short_shards_names_no_short_shard_file() -> None:
    # FNV-1a of "a" is 0xE40C292C, 0.8908... of the hash range: shard 3 of 4, shard 1 of 2.
    plain = search.Run("r", shards=4, short=0, level=0, postings=1, short_postings=0, since=0, low=0, high=1)
    assert plain.key_for("a") == "search/run/r/3.json"
    assert plain.file_keys() == [f"search/run/r/{n}.json" for n in range(4)]
    apart = search.Run("r", shards=4, short=2, level=0, postings=1, short_postings=1, since=0, low=0, high=1)
    assert apart.key_for("a") == "search/run/r/s1.json"
    assert apart.key_for("北向") == plain.key_for("北向")  # a CJK bigram is not short
    assert apart.key_for("北向") in plain.file_keys()


def test_a_gap_of_exactly_the_small_numbers_table_is_encoded_and_read_back() -> None:
    # Gaps below 36 * 36 are looked up; 1296 itself is the first computed ("100" in base 36).
    documents = {0: {"t": 1}, 36 * 36: {"t": 1}, 36 * 36 * 2 + 5: {"t": 2}}
    table = search.table_of(documents)
    assert table == {"t": "205:2,105,100"}  # 2597, then 1301 below it, then 1296 below that
    assert search.decode_postings(table["t"]) == {2597: 2, 1296: 1, 0: 1}


def test_body_occurrences_are_capped_below_one_title_occurrence_and_titles_at_one_digit() -> None:
    got = search.weights("股" * 8 + " 价", "银" * 50 + " 金" + " 铜" * (search.BODY_MAX + 1))
    assert got["银"] == search.BODY_MAX and got["银银"] == search.BODY_MAX  # 50 and 49 occurrences
    assert got["铜"] == search.BODY_MAX  # one occurrence past the cap is already capped
    assert search.weights("", " 铜" * (search.BODY_MAX + 1)) == {"铜": search.BODY_MAX}  # so when it is the most
    assert got["金"] == 1  # once: below the cap, left as it is
    # 8 title occurrences are 40, past the one base-36 digit; 7 (the bigram) are exactly 35.
    assert got["股"] == search.MAX_WEIGHT and got["股股"] == search.MAX_WEIGHT
    assert got["价"] == search.TITLE_WEIGHT  # another title token, below the cap, left as it is
    titled = set(search.index_tokens("股" * 8 + " 价"))
    assert min(got[token] for token in titled) > max(w for token, w in got.items() if token not in titled)


def test_deleted_documents_are_neither_found_nor_live() -> None:
    weights = search.weights("金价", "")
    manifest = search.Manifest(
        clock=2, log=search.table_of({1: weights, 2: weights}), deleted={1: search.Deleted(clock=1, at=0)}
    )
    stored = {search.MANIFEST_KEY: manifest.to_bytes()}
    assert search.search(stored.get, "金价") == [2]
    assert search.live_postings(stored.get) == {2: weights}


def test_a_manifest_of_another_version_is_refused() -> None:
    current = search.Manifest(clock=3).to_bytes()
    assert search.Manifest.from_bytes(current).clock == 3
    other = current.replace(f'"v":{search.VERSION}'.encode(), f'"v":{search.VERSION + 1}'.encode())
    assert other != current
    with pytest.raises(ValueError, match="rebuild the index"):
        search.Manifest.from_bytes(other)


def test_a_document_carries_its_labels_only_when_it_has_some() -> None:
    labelled = search.Document(3, "/a.html", "T", "2024-05-01", "text", labels="fx 外汇")
    assert labelled.to_json() == {"u": "/a.html", "t": "T", "d": "2024-05-01", "x": "text", "k": "fx 外汇"}
    assert "k" not in search.Document(3, "/a.html", "T", "2024-05-01", "text").to_json()


def test_run_files_are_cached_for_good_the_manifest_and_documents_briefly() -> None:
    # A run file's name is a digest of its content or of its inputs; a document is deleted with its
    # post, and the manifest changes with every publish.
    assert writer.cache_control("search/run/0123456789abcdef/0.json") == writer.IMMUTABLE
    assert writer.cache_control(search.MANIFEST_KEY) == writer.LISTING_CACHE  # ten seconds, never invalidated
    assert writer.cache_control(search.doc_key(7)) == writer.SHORT_CACHE


def _post(n: int, title: str, body: str) -> tuple[str, bytes]:
    text = f'---\ntitle: "{title}"\ndate: 2024-05-{1 + n % 28:02d} 10:00:00\n---\n{body}\n'
    return f"_posts/2024-05-{1 + n % 28:02d}-p{n}.md", text.encode()


def _site(posts: dict[str, tuple[str, str]], *, one_by_one: bool = False) -> InProcessPipeline:
    pipeline = InProcessPipeline()
    for n, (title, body) in enumerate(posts.values()):
        pipeline.upload(*_post(n, title, body))
        if one_by_one:
            pipeline.drain()
    pipeline.drain()
    return pipeline


def _found(pipeline: InProcessPipeline, query: str) -> list[str]:
    return [document["t"] for document in found_documents(site_get(pipeline), query)]


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


def test_a_post_is_found_by_its_tags_and_categories_and_a_new_tag_replaces_the_old() -> None:
    # The 404 page offers a search for the name of a listing it cannot find (an expired tag page):
    # the posts of that tag or category must answer it, though the name is in neither title nor text.
    pipeline = InProcessPipeline()
    key = "_posts/2024-05-01-fx.md"

    def publish(tags: str) -> None:
        front = f'---\ntitle: "人民币中间价"\ndate: 2024-05-01\ncategories: fx\ntags: [{tags}]\n---\n正文\n'
        pipeline.upload(key, front.encode())
        pipeline.drain()

    publish("汇率, 滚动新闻")
    assert _found(pipeline, "汇率") == ["人民币中间价"]
    assert _found(pipeline, "fx") == ["人民币中间价"]
    publish("外汇")  # only the tags changed: the post's document is written again
    assert _found(pipeline, "汇率") == []
    assert _found(pipeline, "外汇") == ["人民币中间价"]


def test_a_query_in_the_middle_of_a_word_or_number_is_found() -> None:
    pipeline = _site({"a": ("Databank report", "stock 002858 up"), "b": ("Banking", "code 600160")})
    assert set(_found(pipeline, "bank")) == {"Databank report", "Banking"}
    assert _found(pipeline, "2858") == ["Databank report"]
    assert _found(pipeline, "0016") == ["Banking"]


# Small enough that a handful of posts flush the log, fill levels and run jobs over several batches.
TINY = index.Tuning(
    log_postings=12, level0_postings=20, fanout=2, shard_postings=8, short_postings=16, steps_per_post=2
)
CHARS = "北向资金净流入央行半导体蔚来汽车新能源股票代码abcab0123 1.8%,0.,"


@settings(max_examples=40, deadline=None, derandomize=True)
@given(
    bodies=st.lists(st.text(alphabet=CHARS, min_size=1, max_size=40), min_size=1, max_size=10),
    data=st.data(),
)
def test_every_post_containing_the_query_is_found(bodies: list[str], data: st.DataObject) -> None:
    # Recall, against a brute-force substring scan: any substring of any post (the middle of a word
    # or a number too) is a query, and the index is compacted as the posts arrive.
    posts = {str(n): (f"t{n}", body) for n, body in enumerate(bodies)}
    source = data.draw(st.sampled_from(bodies))
    start = data.draw(st.integers(0, len(source) - 1))
    query = source[start : start + data.draw(st.integers(1, 6))].strip()
    assume(query and search.query_tokens(query))
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(index, "TUNING", TINY)
        pipeline = _site(posts, one_by_one=data.draw(st.booleans()))
    expected = {f"t{n}" for n, body in enumerate(bodies) if search.normalise(query) in search.normalise(f"t{n} {body}")}
    found = set(_found(pipeline, query))
    assert expected <= found


operation = st.tuples(st.integers(0, 7), st.one_of(st.none(), st.text(alphabet=CHARS, min_size=1, max_size=30)))


@settings(max_examples=30, deadline=None, derandomize=True)
@given(steps=st.lists(st.tuples(st.lists(operation, min_size=1, max_size=6)), min_size=1, max_size=12))
def test_compaction_keeps_the_index_equal_to_the_catalog(steps: list[tuple[list[tuple[int, str | None]]]]) -> None:
    # Posts published, changed and deleted in batches of any size; after every batch the index holds
    # exactly the live posts, every file the manifest names exists, and no invocation writes more
    # than its budget: a document per post, the manifest, and `steps_per_post` files per post.
    written: list[tuple[int, int]] = []

    def counted(event: dict[str, object], ports: object) -> object:
        outcome = run(event, ports)
        written.append((len(event["Records"]), outcome.counts["index_objects_written"]))  # type: ignore[arg-type]
        return outcome

    run = index.run
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(index, "TUNING", TINY)
        pipeline = InProcessPipeline()
        patch.setattr(pipeline.queues["index"], "stage", counted)
        for (batch,) in steps:
            for n, body in batch:
                key, text = _post(n, f"t{n}", body or "")
                if body is None:
                    pipeline.delete(key)
                else:
                    pipeline.upload(key, text)
            pipeline.drain()
            get = site_get(pipeline)
            manifest = search.read_index(get)
            for run_ in manifest.runs:
                assert all(get(key) is not None for key in run_.file_keys())
            # A delta decodes the log only to take out what leaves it, so a deleted id is never in it.
            assert not search.table_ids(manifest.log) & manifest.deleted.keys()
            assert search.logical_index(get) == expected_index(pipeline)
    assert written and all(n <= 1 + posts * (1 + TINY.steps_per_post) for posts, n in written)
