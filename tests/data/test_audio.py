"""WAV folders as log-mel spectrograms (vaekit.kinds.audio: data_wav.py, data_mel.py): the
WAV round trip, the mel scale and filter bank, the STFT of a sine, resampling, Griffin-Lim,
the standardization, and the folder reader's labels, splits and one-line errors."""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np
import pytest
import torch

from vaekit.data.datasets import open_dataset
from vaekit.errors import VaekitError
from vaekit.kinds.audio.data_mel import (
    FLOOR_DB,
    AudioFeatures,
    fit_features,
    griffin_lim,
    hz_to_mel,
    mel_filterbank,
    mel_to_hz,
    power_spectrogram,
    spectral_convergence,
)
from vaekit.kinds.audio.data_wav import (
    fit_clip,
    labels_from_names,
    list_wavs,
    read_wav,
    resample,
    write_wav,
)

RATE = 8000


def tone(freq: float, seconds: float = 0.5, rate: int = RATE, amp: float = 0.5) -> np.ndarray:
    t = np.arange(round(seconds * rate)) / rate
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def features(rate: int = RATE, n_fft: int = 256, hop: int = 64, mels: int = 32) -> AudioFeatures:
    return AudioFeatures(rate, 0.5, n_fft, hop, mels, (0.0,) * mels, (1.0,) * mels)


def write_tones(folder: Path, freqs: dict[str, float], per: int = 4, rate: int = RATE) -> Path:
    """`per` files of each named tone, `{name}_{i}.wav`, slightly detuned and of varied length."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, f in freqs.items():
        for i in range(per):
            write_wav(folder / f"{name}_{i}.wav", tone(f * (1 + 0.01 * i), 0.3 + 0.1 * i), rate)
    return folder


def test_wav_round_trip_gives_the_samples_back(tmp_path: Path):
    samples = np.round(tone(440) * 32768) / 32768  # exactly representable in 16 bits
    write_wav(tmp_path / "a.wav", samples, RATE)
    back, rate = read_wav(tmp_path / "a.wav")
    assert rate == RATE and back.dtype == np.float32
    np.testing.assert_array_equal(back, samples.astype(np.float32))


def test_stereo_is_mixed_to_mono_and_other_widths_are_refused(tmp_path: Path):
    left, right = np.array([1000, -2000, 300], "<i2"), np.array([3000, 0, -300], "<i2")
    with wave.open(str(tmp_path / "s.wav"), "wb") as f:
        f.setnchannels(2)
        f.setsampwidth(2)
        f.setframerate(RATE)
        f.writeframes(np.stack([left, right], 1).tobytes())
    mono, _ = read_wav(tmp_path / "s.wav")
    np.testing.assert_allclose(mono, [2000 / 32768, -1000 / 32768, 0.0])
    with wave.open(str(tmp_path / "u8.wav"), "wb") as f:
        f.setnchannels(1)
        f.setsampwidth(1)
        f.setframerate(RATE)
        f.writeframes(bytes([128, 130, 120]))
    with pytest.raises(VaekitError, match=r"u8.wav: 8-bit samples; vaekit reads 16-bit"):
        read_wav(tmp_path / "u8.wav")
    (tmp_path / "junk.wav").write_bytes(b"RIFF not really")
    with pytest.raises(VaekitError, match=r"junk\.wav: not a readable PCM WAV"):
        read_wav(tmp_path / "junk.wav")
    whole = (tmp_path / "s.wav").read_bytes()
    (tmp_path / "cut.wav").write_bytes(whole[:-4])  # the last frame (2 channels x 2 bytes) lost
    with pytest.raises(VaekitError, match=r"cut\.wav: cut short: .* declares 3 frames, .* holds 2"):
        read_wav(tmp_path / "cut.wav")


def test_empty_wav_files_are_refused_saying_why(tmp_path: Path):
    (tmp_path / "zero.wav").write_bytes(b"")
    with wave.open(str(tmp_path / "frameless.wav"), "wb") as f:  # a header, no samples
        f.setnchannels(1)
        f.setsampwidth(2)
        f.setframerate(RATE)
    (tmp_path / "header.wav").write_bytes((tmp_path / "frameless.wav").read_bytes()[:20])
    for name, why in [
        ("zero.wav", "an empty file"),
        ("frameless.wav", "it holds no samples"),
        ("header.wav", "cut short"),
    ]:
        with pytest.raises(VaekitError) as err:
            read_wav(tmp_path / name)
        assert str(err.value) == f"{tmp_path / name}: not a readable PCM WAV file ({why})"
    # In a folder of good recordings, one without samples stops training, naming it.
    folder = write_tones(tmp_path / "f", {"low": 300, "high": 2000}, per=2)
    (folder / "low_9.wav").write_bytes((tmp_path / "frameless.wav").read_bytes())
    with pytest.raises(VaekitError, match=r"low_9\.wav: not a readable PCM WAV file \(it holds"):
        open_dataset(folder, audio={"clip_seconds": 0.5})


def test_htk_mel_scale_and_its_inverse():
    # 1000 Hz is about 1000 mel on HTK's scale; the two functions are inverses.
    assert float(hz_to_mel(1000.0)) == pytest.approx(2595 * np.log10(1 + 1000 / 700))
    assert float(hz_to_mel(1000.0)) == pytest.approx(1000.0, abs=0.1)
    f = torch.tensor([0.0, 123.0, 4000.0])
    torch.testing.assert_close(mel_to_hz(hz_to_mel(f)), f.double())


def test_filter_centres_are_equally_spaced_in_mel_and_peak_at_one():
    n_fft, mels = 4096, 20  # fine FFT bins: each triangle's peak lands near its centre
    bank = mel_filterbank(n_fft, RATE, mels)
    assert bank.shape == (mels, n_fft // 2 + 1) and bank.min() >= 0
    freqs = torch.linspace(0, RATE / 2, n_fft // 2 + 1)
    peaks = freqs[bank.argmax(dim=1)]
    expected = mel_to_hz(torch.linspace(0, float(hz_to_mel(RATE / 2)), mels + 2))[1:-1]
    torch.testing.assert_close(peaks.double(), expected, atol=RATE / n_fft, rtol=0)
    assert torch.allclose(bank.max(dim=1).values, torch.ones(mels), atol=0.01)
    spacing = torch.diff(hz_to_mel(peaks))
    assert float(spacing.std() / spacing.mean()) < 0.02


def test_a_tones_energy_lands_in_the_mel_bin_of_its_frequency():
    f = features()
    bank = f.filterbank()
    for freq in (300.0, 1000.0, 2500.0):
        db = f.decibels(torch.from_numpy(tone(freq))[None])[0, 0]  # (M, T)
        loudest = int(db[:, 2:-2].mean(dim=1).argmax())
        # the bin whose triangle weighs this frequency most
        column = round(freq / (RATE / 2) * (f.n_fft // 2))
        assert loudest == int(bank[:, column].argmax()), freq


def test_stft_power_of_a_sine_matches_the_closed_form():
    # A sine at an FFT bin's frequency, amplitude A, Hann window w: |X_k| = A / 2 * sum(w).
    n_fft, hop, amp = 256, 64, 0.5
    k = 20
    freq = k * RATE / n_fft
    power = power_spectrogram(torch.from_numpy(tone(freq, amp=amp))[None].double(), n_fft, hop)
    middle = power[0, :, 4:-4]
    window_sum = torch.hann_window(n_fft, dtype=torch.float64).sum()
    assert torch.allclose(middle[k], (amp / 2 * window_sum) ** 2 * torch.ones_like(middle[k]),
                          rtol=1e-6)  # fmt: skip
    assert middle.argmax(dim=0).eq(k).all()
    assert float(middle[k + 3 :].max() / middle[k].max()) < 1e-6  # Hann leaks to k +- 1 only


def test_resampling_keeps_a_tones_frequency():
    down = resample(tone(500, rate=16000), 16000, RATE)
    assert len(down) == round(0.5 * RATE)
    spectrum = np.abs(np.fft.rfft(down))
    peak = np.argmax(spectrum) * RATE / len(down)
    assert peak == pytest.approx(500, abs=2)
    np.testing.assert_allclose(down[100:-100], tone(500)[100:-100], atol=1e-3)


def test_fit_clip_keeps_the_start_and_pads_the_end_with_silence():
    x = np.arange(1, 6, dtype=np.float32)
    np.testing.assert_array_equal(fit_clip(x, 3), [1, 2, 3])
    np.testing.assert_array_equal(fit_clip(x, 7), [1, 2, 3, 4, 5, 0, 0])


def test_griffin_lim_recovers_a_tones_magnitude_and_frequency():
    n_fft, hop = 256, 64
    clip = torch.from_numpy(tone(700) + tone(1900, amp=0.2))[None].double()
    magnitude = power_spectrogram(clip, n_fft, hop).sqrt()
    generator = torch.Generator().manual_seed(0)
    rebuilt = griffin_lim(magnitude, n_fft, hop, clip.shape[1], 100, generator=generator)
    assert rebuilt.shape == clip.shape
    first = griffin_lim(magnitude, n_fft, hop, clip.shape[1], 1,
                        generator=torch.Generator().manual_seed(0))  # fmt: skip
    converged = float(spectral_convergence(rebuilt, magnitude, n_fft, hop)[0])
    assert converged < 0.08 and converged < float(spectral_convergence(first, magnitude, n_fft,
                                                                      hop)[0]) / 4  # fmt: skip
    spectrum = np.abs(np.fft.rfft(rebuilt[0].numpy()))
    assert np.argmax(spectrum) * RATE / clip.shape[1] == pytest.approx(700, abs=4)


def test_features_to_clips_and_back_keep_the_log_mel_spectrogram():
    f = AudioFeatures(RATE, 0.5, 256, 64, 32, tuple(np.linspace(-40, 0, 32)), (10.0,) * 32)
    clip = torch.from_numpy(tone(440) + tone(1500, amp=0.3))[None]
    x = f.encode(clip)
    assert x.shape == (1, *f.shape) == (1, 1, 32, 1 + 4000 // 64)
    db = f.decibels(clip)
    torch.testing.assert_close(f.standardize(db), (db - f._stats(db)[0]) / 10.0)
    torch.testing.assert_close(f.to_decibels(x), db, atol=1e-4, rtol=0)
    back = f.to_clips(x, 100, torch.Generator().manual_seed(0))
    assert back.shape == (1, 4000) and back.abs().max() <= 1
    loud = db[0, 0] > -30  # where there is sound, Griffin-Lim's clip has the same spectrum
    error = (f.decibels(back)[0, 0] - db[0, 0])[loud].abs().mean()
    assert float(error) < 6.0  # dB; the mel bank and Griffin-Lim both lose a little


def test_labels_from_file_names():
    names = ["a/10_x_1.wav", "2_y_0.wav", "10_z_3.wav"]
    labels, classes = labels_from_names(names, r"^(\d+)_")
    assert classes == ["2", "10"] and labels.tolist() == [1, 0, 1]  # numeric order
    with pytest.raises(VaekitError, match="needs a group"):
        labels_from_names(names, r"^\d+_")
    with pytest.raises(VaekitError, match=r"2_y_0\.wav: its name does not match"):
        labels_from_names(names, r"^(1\d)_")
    with pytest.raises(VaekitError, match="not a regular expression"):
        labels_from_names(names, r"^(\d+")


def test_a_wav_folder_opens_as_standardized_spectrograms(tmp_path: Path):
    folder = write_tones(tmp_path / "tones", {"low": 300, "high": 2000}, per=5)
    (folder / "sub").mkdir()
    write_wav(folder / "sub" / "high_9.wav", tone(2000, 0.9, rate=16000), 16000)
    options = {"clip_seconds": 0.5, "n_fft": 256, "hop_length": 64, "n_mels": 32,
               "label_pattern": r"^([a-z]+)_", "test_pattern": r"_[01]\.wav$"}  # fmt: skip
    data = open_dataset(folder, audio=options)
    assert data.info["kind"] == "audio" and data.info["sample_rate"] == RATE
    assert data.info["resampled"] == 1 and data.info["cropped"] == 5  # 0.6, 0.7 s; 0.9 s
    # 0.3 and 0.4 s, twice: padded; the two of 0.5 s neither ("the others padded" said 5)
    assert data.info["padded"] == 4
    assert data.shape == (1, 32, 63) and data.kind == "audio"
    assert data.test.ids == ["high_0.wav", "high_1.wav", "low_0.wav", "low_1.wav"]
    assert len(data.train) == 7 and "sub/high_9.wav" in data.train.ids
    assert data.schema.classes == ("high", "low") and data.test.labels.tolist() == [0, 0, 1, 1]
    # Statistics of the training files: their spectrograms have mean 0, std 1 per mel bin.
    train = data.train.images[:, 0]
    torch.testing.assert_close(train.mean(dim=(0, 2)), torch.zeros(32), atol=1e-4, rtol=0)
    std = train.std(dim=(0, 2), unbiased=False)
    varied = std > 0.01  # a mel bin no clip reaches stays 0 (nothing to scale)
    assert varied.sum() >= 16, std  # most bins carry sound: the check below is not empty
    assert torch.allclose(std[varied], torch.ones(32)[varied], atol=1e-3)
    # Reopened with the model's record: the same values, whatever the new folder's statistics.
    record = data.schema.to_json()
    again = open_dataset(folder, audio=options, schema=record, schema_kind="audio")
    torch.testing.assert_close(again.test.images, data.test.images)
    assert AudioFeatures.from_json(record) == data.schema
    padded = data.schema.to_decibels(data.test.images[:1])[0, 0, :, -3:]  # 0.3 s, padded
    assert torch.allclose(padded, torch.full_like(padded, FLOOR_DB), atol=1e-3)


@pytest.mark.parametrize(
    ("make", "options", "message"),
    [
        (lambda f: None, {}, "no dataset found|no .wav"),
        (lambda f: (f / "a.wav").write_bytes(b"no"), {}, "a.wav: not a readable PCM WAV"),
        (None, {"label_pattern": r"^[a-z]+_"}, "needs a group"),
        (None, {"test_pattern": r"^nothing"}, "no file name matches it"),
        (None, {"test_pattern": r"wav"}, "every file matches it"),
        (None, {"n_mels": 200}, "falls between the FFT's bins"),
        (None, {"hop_length": 600, "n_fft": 512}, "longer than --n-fft"),
    ],
)
def test_mistakes_are_one_line_errors(tmp_path: Path, make, options, message):
    folder = tmp_path / "f"
    folder.mkdir()
    if make is None:
        write_tones(folder, {"low": 300, "high": 2000}, per=2)
    else:
        make(folder)
        if not any(folder.iterdir()):
            (folder / "x.wav").mkdir()  # a folder named .wav: no recording
    with pytest.raises(VaekitError, match=message) as err:
        open_dataset(folder, audio={"clip_seconds": 0.5, **options})
    assert "\n" not in str(err.value)


def test_other_recordings_given_to_a_model_need_not_carry_its_labels(tmp_path: Path):
    options = {"clip_seconds": 0.5, "n_fft": 256, "hop_length": 64, "n_mels": 32,
               "label_pattern": r"^([a-z]+)_"}  # fmt: skip
    data = open_dataset(write_tones(tmp_path / "a", {"low": 300, "high": 2000}), audio=options)
    other = tmp_path / "b"
    other.mkdir()
    for i in range(4):
        write_wav(other / f"{i}.wav", tone(500 + 100 * i), RATE)
    with pytest.raises(VaekitError, match=r"does not match --label-pattern '\^\(\[a-z\]\+\)_'"):
        open_dataset(other, audio=options)  # training on them: the pattern must fit
    # A pattern that matches with its label group empty: "does not match" was wrong
    with pytest.raises(VaekitError, match="matches its name, but its first group, the label"):
        open_dataset(other, audio={**options, "label_pattern": r"^([a-z]*)\d"})
    assert data.kind == "audio"
    given = open_dataset(other, audio=options, schema=data.schema.to_json(), schema_kind="audio")
    assert given.train.labels is None and given.schema == data.schema


def test_a_wav_whose_header_says_0_hz_is_one_line(tmp_path: Path):
    """Its samples have no rate to resample from: a ZeroDivisionError, the file unnamed."""
    with wave.open(str(tmp_path / "ok.wav"), "wb") as f:
        f.setnchannels(1)
        f.setsampwidth(2)
        f.setframerate(RATE)
        f.writeframes(b"\x00\x01" * 100)
    data = bytearray((tmp_path / "ok.wav").read_bytes())
    data[24:28] = (0).to_bytes(4, "little")  # the fmt chunk's sample rate
    (tmp_path / "rate0.wav").write_bytes(bytes(data))
    with pytest.raises(VaekitError) as err:
        read_wav(tmp_path / "rate0.wav")
    assert str(err.value) == (
        f"{tmp_path / 'rate0.wav'}: not a readable PCM WAV file (its sample rate is 0 Hz; "
        "vaekit reads audio of 100 to 768,000 Hz)"
    )
    data[24:28] = (4_000_000_000).to_bytes(4, "little")  # read as a clip of 0.00 s
    (tmp_path / "rate4g.wav").write_bytes(bytes(data))
    with pytest.raises(VaekitError, match="its sample rate is 4,000,000,000 Hz"):
        read_wav(tmp_path / "rate4g.wav")
    data[24:28] = (1).to_bytes(4, "little")  # 1 Hz: resampled to 16 kHz, a 200 KB file's
    (tmp_path / "rate1.wav").write_bytes(bytes(data))  # samples would take gigabytes
    with pytest.raises(VaekitError, match="its sample rate is 1 Hz"):
        read_wav(tmp_path / "rate1.wav")


def test_hidden_files_and_folders_are_not_recordings(tmp_path: Path):
    """A Mac's ._ files and a .trash folder beside the recordings: left out, as an image
    folder leaves them (a ._ file is no WAV, and ended the run)."""
    folder = write_tones(tmp_path / "wav", {"low": 300.0, "high": 1200.0})
    (folder / "._low_0.wav").write_bytes(b"junk")
    write_tones(folder / ".trash", {"low": 300.0}, per=2)
    data = open_dataset(folder, audio={"clip_seconds": 0.5})
    assert len(data.train) + len(data.test) == 8
    # a folder of recordings linked in (ln -s) is read, as an image folder's is
    more = write_tones(tmp_path / "more", {"mid": 600.0}, per=2)
    (folder / "mid").symlink_to(more)
    assert len(list_wavs(folder)) == 10 and "mid/mid_0.wav" in list_wavs(folder)
    (more / "mid_1.wav").rename(more / "MID_1.WAV")  # a recorder's upper-case names
    assert "mid/MID_1.WAV" in list_wavs(folder) and len(list_wavs(folder)) == 10


def _riff(fmt: bytes, data: bytes, data_size: int | None = None) -> bytes:
    """A WAV file's bytes with the given format chunk body and data (its declared size
    `data_size`, by default the data's length)."""
    declared = len(data) if data_size is None else data_size
    body = b"WAVE" + b"fmt " + len(fmt).to_bytes(4, "little") + fmt
    body += b"data" + declared.to_bytes(4, "little") + data
    return b"RIFF" + (len(body) & 0xFFFFFFFF).to_bytes(4, "little") + body


def test_extensible_pcm_and_streaming_headers_are_read_and_float_is_named(tmp_path: Path):
    """Headers many tools write: 16-bit PCM under WAVE_FORMAT_EXTENSIBLE ("unknown format:
    65534"), a data size left at 0xFFFFFFFF by a writer to a pipe ("cut short: its header
    declares 2147483647 frames"), and float samples ("unknown format: 3")."""
    samples = np.round(tone(440) * 0.5 * 32768).astype("<i2")
    pcm = (1).to_bytes(2, "little") + (1).to_bytes(2, "little") + RATE.to_bytes(4, "little")
    pcm += (2 * RATE).to_bytes(4, "little") + (2).to_bytes(2, "little") + (16).to_bytes(2, "little")
    guid = (1).to_bytes(2, "little") + bytes.fromhex("000000001000800000aa00389b71")
    extensible = (0xFFFE).to_bytes(2, "little") + pcm[2:] + (22).to_bytes(2, "little")
    extensible += (16).to_bytes(2, "little") + (4).to_bytes(4, "little") + guid
    (tmp_path / "ext.wav").write_bytes(_riff(extensible, samples.tobytes()))
    (tmp_path / "stream.wav").write_bytes(_riff(pcm, samples.tobytes(), 0xFFFFFFFF))
    want = samples.astype(np.float32) / 32768
    for name in ("ext.wav", "stream.wav"):
        got, rate = read_wav(tmp_path / name)
        assert rate == RATE
        np.testing.assert_array_equal(got, want)
    floats = (3).to_bytes(2, "little") + pcm[2:14] + (32).to_bytes(2, "little")
    (tmp_path / "f.wav").write_bytes(_riff(floats, tone(440).astype("<f4").tobytes()))
    with pytest.raises(VaekitError, match=r"f\.wav: 32-bit float samples; vaekit reads 16-bit"):
        read_wav(tmp_path / "f.wav")
    # float under the extensible header (3.12's wave: "unknown extended format: 00000003-...")
    float_guid = (3).to_bytes(2, "little") + guid[2:]
    ext_float = extensible[:14] + (32).to_bytes(2, "little") + extensible[16:24] + float_guid
    (tmp_path / "ef.wav").write_bytes(_riff(ext_float, tone(440).astype("<f4").tobytes()))
    with pytest.raises(VaekitError, match=r"ef\.wav: 32-bit float samples"):
        read_wav(tmp_path / "ef.wav")


def test_the_features_take_numpy_and_refuse_pcm_and_wrong_shapes():
    """model.schema (an AudioFeatures) from a notebook: NumPy arrays gave raw TypeErrors, a
    clip of another length an einsum or padding error, and int16 PCM was taken as samples,
    90 dB too loud, scored without a word."""
    clips = np.sin(np.linspace(0, 300, 4000))[None].astype(np.float32)
    settings = {"clip_seconds": 0.5, "n_fft": 256, "hop_length": 64, "n_mels": 8}
    both = torch.from_numpy(np.concatenate([clips, clips * 0.5]))
    features, _ = fit_features(both, torch.arange(2), RATE, settings, None)
    x = features.encode(clips)
    torch.testing.assert_close(x, features.encode(torch.from_numpy(clips[0])))  # one (L,)
    np.testing.assert_allclose(features.to_decibels(x.numpy()), features.to_decibels(x))
    assert features.to_clips(x[:, 0].numpy()).shape == (1, 4000)
    with pytest.raises(VaekitError, match=r"clips are samples in \[-1, 1\], got torch.int16"):
        features.encode((clips * 32767).astype(np.int16))
    with pytest.raises(VaekitError, match=r"expected clips \(N, 4000\)"):
        features.encode(clips[:, :100])
    with pytest.raises(VaekitError, match=r"expected spectrograms \(N, 1, 8,"):
        features.to_decibels(np.zeros((1, 3, 5), np.float32))
