import numpy as np

from voxgate.audio import resample
from voxgate.components.turn.smart_turn import (
    INSTALL_HINT,
    SAMPLE_RATE,
    WINDOW_S,
    SmartTurn,
    bundled_model,
    input_features,
)


def tone(seconds: float, hz: float = 440.0) -> bytes:
    t = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    return (np.sin(2 * np.pi * hz * t) * 8000).astype(np.int16).tobytes()


def test_features_are_the_models_input_shape():
    features = input_features(tone(1.0))
    assert features.shape == (1, 80, 800) and features.dtype == np.float32


def test_a_short_utterance_is_left_padded_so_it_ends_the_window():
    features = input_features(tone(1.0))[0]
    frames_per_second = 100  # 10 ms hop
    padding, sound = features[:, : 6 * frames_per_second], features[:, -frames_per_second:]
    assert np.allclose(padding, padding[:, :1])  # silence: the same frame throughout
    assert all(not np.allclose(frame, padding[:, 0]) for frame in sound.T)  # the tone, last


def test_only_the_last_window_counts():
    last = tone(WINDOW_S, hz=300)
    longer = tone(3.0, hz=1000) + last
    assert np.array_equal(input_features(longer), input_features(last))
    assert not np.array_equal(input_features(tone(WINDOW_S, hz=1000)), input_features(last))


def test_loudness_does_not_matter():
    loud = (np.frombuffer(tone(2.0), dtype=np.int16) * 4).astype(np.int16).tobytes()
    assert np.allclose(input_features(loud), input_features(tone(2.0)), atol=1e-3)


def test_the_model_hears_a_finished_question_from_a_cut_off_one(speech):
    assert bundled_model() is not None, f"Smart Turn's model is not installed: {INSTALL_HINT}"
    model = SmartTurn()

    def probability(text: str) -> float:
        return model.probability(resample(speech(text), 24000, SAMPLE_RATE))

    finished = probability("What is the capital of France?")
    # Piper ends "... my seat to" on a falling note: heard as finished (0.90) on one machine
    cut_off = probability("I am flying to Berlin and I need")
    assert finished > 0.5 > cut_off
