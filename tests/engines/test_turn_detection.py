from voxgate.engines.local.turn_detection import ServerVAD, TurnEvent


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
