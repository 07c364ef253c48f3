"""The dates of the bench's new posts (bench.corpus): each later than the last, and a size's own day."""

from __future__ import annotations

from bench import corpus


def test_new_posts_are_dated_one_after_another_from_the_first_new_day() -> None:
    times = corpus.NewPostTimes()
    times.new_day()  # nothing taken yet: the first day is still free
    taken = [times.take() for _ in range(3)]
    assert taken[0] == corpus.NEW_POSTS_DAY
    assert taken == sorted(set(taken))


def test_a_new_day_holds_no_post_taken_before_it() -> None:
    times = corpus.NewPostTimes()
    first = [times.take() for _ in range(3)]
    times.new_day()
    second = [times.take() for _ in range(2)]
    times.new_day()
    times.new_day()  # twice in a row: one new day, not two
    third = times.take()

    assert {t.date() for t in second}.isdisjoint(t.date() for t in first)
    assert third.date() not in {t.date() for t in first + second}
    assert (third.date() - second[0].date()).days == 1
    assert second[0].time() == third.time() == corpus.NEW_POSTS_DAY.time()
    assert first + second + [third] == sorted(first + second + [third])
