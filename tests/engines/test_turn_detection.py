import pytest

from voxgate.engines.local.turn_detection import (
    LOUD_WAIT_MS,
    SemanticPolicy,
    ServerVAD,
    TurnEvent,
    sounds_unfinished,
)


def run(
    vad: ServerVAD, probabilities: list[float], frame_ms: float = 32
) -> list[tuple[int, TurnEvent]]:
    changes = []
    for index, p in enumerate(probabilities):
        change = vad.process(p, index * frame_ms, (index + 1) * frame_ms)
        if change is not None:
            changes.append((index, change))
    return changes


def test_a_turn_starts_pauses_and_stops_after_the_silence_window():
    vad = ServerVAD(threshold=0.5, silence_duration_ms=96)
    changes = run(vad, [0, 0.9, 0.9, 0.9, 0.1, 0.1, 0.1, 0.1])
    assert changes == [
        (2, TurnEvent.SPEECH_STARTED),
        (4, TurnEvent.PAUSED),
        (6, TurnEvent.SPEECH_STOPPED),
    ]
    assert vad.speech_start_ms == 32


def test_speech_within_the_window_resumes_the_turn():
    vad = ServerVAD(silence_duration_ms=200)
    changes = [c for _, c in run(vad, [0.9, 0.9, 0.1, 0.1, 0.9, 0.1] + [0.0] * 8)]
    assert changes == [
        TurnEvent.SPEECH_STARTED,
        TurnEvent.PAUSED,
        TurnEvent.RESUMED,
        TurnEvent.PAUSED,
        TurnEvent.SPEECH_STOPPED,
    ]


def test_a_single_loud_frame_is_not_speech_and_hysteresis_holds():
    vad = ServerVAD(threshold=0.5, silence_duration_ms=64)
    assert run(vad, [0.9, 0.1, 0.1]) == []
    # 0.4 is under the threshold but above threshold - hysteresis: still speech
    changes = [c for _, c in run(vad, [0.9, 0.9, 0.4, 0.4, 0.4])]
    assert changes == [TurnEvent.SPEECH_STARTED]


def test_eagerness_sets_how_long_an_unfinished_thought_is_waited_for():
    low, medium, high = (SemanticPolicy.of(e) for e in ("low", "medium", "high"))
    assert low.max_wait_ms > medium.max_wait_ms > high.max_wait_ms >= 1000  # > a thinking pause
    assert SemanticPolicy.of("auto") == medium


def test_a_finished_thought_ends_sooner_than_server_vads_silence_window():
    for eagerness in ("low", "medium", "high"):
        assert SemanticPolicy.of(eagerness).min_wait_ms < ServerVAD().silence_duration_ms


def test_eagerness_sets_how_sure_the_model_must_be_that_the_user_finished():
    low, medium, high = (SemanticPolicy.of(e) for e in ("low", "medium", "high"))
    assert medium.finished(0.6) and not medium.finished(0.4)
    assert high.finished(0.4) and not low.finished(0.6)


@pytest.mark.parametrize(
    "transcript",
    [
        "I would like to change my seat to.",
        "My confirmation number is",
        "Can I bring my...",
        "Can I bring my?",
        "I am flying to Berlin and I need.",
        "and",
    ],
)
def test_a_transcript_that_stops_on_a_dangling_word_is_unfinished(transcript):
    assert sounds_unfinished(transcript)


@pytest.mark.parametrize(
    "transcript",
    [
        "What is the capital of France?",
        "Fourteen C, please.",
        "Thank you.",
        "Where are you from?",
        "",
    ],
)
def test_a_transcript_that_ends_a_sentence_may_be_finished(transcript):
    assert not sounds_unfinished(transcript)


def test_a_turn_judged_unfinished_is_judged_again_as_the_silence_lasts():
    policy = SemanticPolicy.of("auto")
    assert policy.judge_again(0, 0)  # at the pause
    assert not policy.judge_again(1, 100) and policy.judge_again(1, 150)
    assert not policy.judge_again(2, 200) and policy.judge_again(2, 300)
    assert not policy.judge_again(len(policy.judge_at_ms), policy.max_wait_ms)


def test_a_sentence_the_model_doubts_ends_after_the_sentence_wait():
    policy = SemanticPolicy.of("medium")
    wait = policy.sentence_wait_ms
    assert 900 < wait < policy.max_wait_ms  # outlasts a thinking pause, not the whole window
    assert policy.sentence_ended("What's the weather like in Tokyo today?", wait)
    assert policy.sentence_ended("Thank you.", wait)
    assert not policy.sentence_ended("What's the weather like in Tokyo today?", wait - 1)
    assert not policy.sentence_ended("I would like to change my seat to.", wait)  # dangles
    assert not policy.sentence_ended("I want to change my seat", wait)  # no full stop
    assert not policy.sentence_ended("What is the weather like in?", wait)  # half a question
    assert not policy.sentence_ended("", wait) and not policy.sentence_ended(None, wait)
    low, high = SemanticPolicy.of("low"), SemanticPolicy.of("high")
    assert low.sentence_wait_ms > wait > high.sentence_wait_ms


def test_a_finished_turn_that_ends_on_a_word_only_a_question_ends_with_waits_longer():
    """Whisper writes "What is the weather like in?" for half a question the model calls done."""
    policy = SemanticPolicy.of("medium")
    early = policy.min_wait_ms
    assert policy.finished_ends("What is the capital of France?", early, quiet=True)
    assert not policy.finished_ends("What is the weather like in?", early, quiet=True)
    wait = policy.sentence_wait_ms
    assert not policy.finished_ends("Where are you from?", wait - 1, quiet=True)
    assert policy.finished_ends("Where are you from?", wait, quiet=True)
    assert not policy.finished_ends(None, policy.max_wait_ms, quiet=True)  # words not known yet


def test_a_dip_between_words_does_not_end_a_turn_the_model_calls_finished():
    """Silero hears ~100-200 ms between "What | food do you serve"; Smart Turn said 0.94."""
    for eagerness in ("low", "medium"):
        policy = SemanticPolicy.of(eagerness)
        assert not policy.finished_ends("What?", 190, quiet=True)
        assert policy.finished_ends("What food do you serve on the flight?", 250, quiet=True)


@pytest.mark.parametrize("eagerness", ["low", "medium", "high", "auto"])
def test_a_silence_the_level_still_hears_sound_in_ends_a_finished_turn_later(eagerness):
    """Silero calls the "f" of "What | food" silence; the level does not."""
    policy = SemanticPolicy.of(eagerness)
    at = policy.min_wait_ms
    assert policy.finished_ends("What?", at, quiet=True)
    assert not policy.finished_ends("What?", at, quiet=False)
    assert not policy.finished_ends("What?", at + LOUD_WAIT_MS - 1, quiet=False)
    assert policy.finished_ends("What?", at + LOUD_WAIT_MS, quiet=False)
