import time

from voxgate.engines.core.playback import Playback


def test_heard_text_follows_played_time(monkeypatch):
    now = [100.0]
    monkeypatch.setattr(time, "monotonic", lambda: now[0])
    playback = Playback()
    assert playback.begin_phrase("Hello there.") == "Hello there."
    playback.audio(1000)
    playback.end_phrase()
    assert playback.begin_phrase("How are you today?") == " How are you today?"
    playback.audio(1000)
    playback.end_phrase()
    assert playback.heard_text() == ""
    now[0] += 1.5  # all of the first phrase, half of the second
    assert playback.heard_ms() == 1500
    assert playback.heard_text() == "Hello there. How are"
    now[0] += 5
    assert playback.heard_ms() == 2000
    assert not playback.playing
    assert playback.heard_text() == "Hello there. How are you today?"


def test_held_reply_is_not_heard_until_released(monkeypatch):
    now = [0.0]
    monkeypatch.setattr(time, "monotonic", lambda: now[0])
    playback = Playback(released=False)
    playback.begin_phrase("Speculative words.")
    playback.audio(800)
    now[0] += 2
    assert playback.heard_ms() == 0
    playback.release()
    now[0] += 0.5
    assert playback.heard_ms() == 500
    assert playback.playing


def test_phrase_without_audio_counts_once_complete():
    playback = Playback()
    playback.begin_phrase("Text only.")
    assert playback.heard_text(0) == ""
    playback.end_phrase()
    assert playback.heard_text(0) == "Text only."


def test_a_pause_stops_heard_time_and_a_resume_goes_on_from_there(monkeypatch):
    now = [0.0]
    monkeypatch.setattr(time, "monotonic", lambda: now[0])
    playback = Playback()
    playback.begin_phrase("One two three four.")
    playback.audio(2000)
    now[0] += 0.5
    playback.pause()
    assert playback.paused
    now[0] += 3  # the caller hears nothing while paused
    assert playback.heard_ms() == 500
    assert playback.heard_text() == "One"
    assert playback.resume() == 500
    assert not playback.paused
    now[0] += 0.5
    assert playback.heard_ms() == 1000
    now[0] += 5
    assert playback.heard_ms() == 2000
