import dataclasses
import io
import json

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import png_bytes, run_cli
from digitlab.models.inference import predict_logits
from digitlab.recognition.preprocess import ImageError, decode_image, find_digits, ink_map, to_mnist



def drawn_digit(mnist_image: np.ndarray, rng, canvas: int = 112) -> bytes:
    """An MNIST digit as dark ink on light paper, at a random size and place in a canvas."""
    size = int(rng.integers(36, canvas + 1))
    paper = Image.new("L", (canvas, canvas), 255)
    ink = Image.fromarray(255 - mnist_image).resize((size, size), Image.Resampling.BILINEAR)
    x, y = rng.integers(0, canvas - size + 1, 2)
    paper.paste(ink, (int(x), int(y)))
    return png_bytes(paper)


def drawn_number(images: list[np.ndarray], rng) -> bytes:
    """Digits pasted side by side, with random gaps, sizes and vertical jitter, dark on light."""
    size = int(rng.integers(36, 64))
    gaps = rng.integers(4, 20, len(images))
    width = len(images) * size + int(gaps.sum()) + 20
    paper = Image.new("L", (width, size + 30), 255)
    x = 10
    for img, gap in zip(images, gaps):
        ink = Image.fromarray(255 - img).resize((size, size), Image.Resampling.BILINEAR)
        paper.paste(ink, (x, int(rng.integers(0, 30))), )
        x += size + int(gap)
    return png_bytes(paper)


def test_mnist_digits_drawn_anywhere_are_read_through_predict(reader, mnist, tmp_path):
    rng = np.random.default_rng(0)
    n = 500
    files = []
    for i in range(n):
        path = tmp_path / f"{i:03d}.png"
        path.write_bytes(drawn_digit(mnist.test_images[i].numpy(), rng))
        files.append(path)
    proc = run_cli("predict", *files, "--model", reader.checkpoint.path, "--json")
    assert proc.returncode == 0, proc.stderr
    results = json.loads(proc.stdout)
    labels = mnist.test_labels[:n].tolist()
    read = [r["number"] == str(y) for r, y in zip(results, labels)]
    accuracy = sum(read) / n
    raw = (predict_logits(reader.checkpoint.model, mnist.test_images[:n], torch.device("cpu")).argmax(1)
           == mnist.test_labels[:n]).float().mean().item()
    assert accuracy >= 0.98, (accuracy, raw)
    assert accuracy >= raw - 0.01, (accuracy, raw)  # preprocessing costs (almost) nothing
    first = results[0]
    assert set(first) == {"file", "number", "digits", "rejected", "reason"}
    assert set(first["digits"][0]) == {"digit", "confidence", "top3", "box"} and len(first["digits"][0]["top3"]) == 3


def test_five_digit_numbers_are_read(reader, mnist):
    rng = np.random.default_rng(1)
    right = 0
    for _ in range(200):
        idx = rng.integers(0, 10000, 5)
        result = reader.read(drawn_number([mnist.test_images[i].numpy() for i in idx], rng))
        right += result.number == "".join(str(int(mnist.test_labels[i])) for i in idx)
    assert right >= 190, right  # 95% of 200


def test_polarity_size_and_format_do_not_matter(reader, mnist):
    seven = mnist.test_images[0].numpy()  # a 7
    assert int(mnist.test_labels[0]) == 7
    big = Image.fromarray(seven).resize((300, 300), Image.Resampling.BILINEAR)
    light_on_dark = png_bytes(big)
    dark_on_light_jpeg = png_bytes(Image.fromarray(255 - np.asarray(big)), "JPEG")
    rgba = Image.new("RGBA", (300, 300), (0, 0, 0, 0))
    rgba.putalpha(big)  # black ink, its strength in the alpha channel, on a transparent canvas
    gif = png_bytes(Image.fromarray(255 - np.asarray(big)).convert("P"), "GIF")
    webp = png_bytes(Image.fromarray(255 - np.asarray(big)), "WEBP")
    # 16-bit grayscale using the whole range: scaled to 8 bits, not clipped to 255
    sixteen = png_bytes(Image.fromarray(np.asarray(big).astype(np.uint16) * 257))
    assert Image.open(io.BytesIO(sixteen)).mode.startswith("I")
    for data in (light_on_dark, dark_on_light_jpeg, png_bytes(rgba), gif, webp, sixteen):
        assert reader.read(data).number == "7"


def test_preprocessing_places_the_digit_as_mnist_does():
    gray = np.full((200, 300), 255, np.float32)
    gray[20:180, 200:220] = 0  # a tall bar, far right: a "1"
    (digit,) = find_digits(gray)
    image = digit.image.astype(float)
    rows, cols = np.nonzero(image > 64)
    assert rows.max() - rows.min() + 1 in (19, 20, 21)  # fitted into the 20-pixel box
    cy = (image.sum(1) * np.arange(28)).sum() / image.sum()
    cx = (image.sum(0) * np.arange(28)).sum() / image.sum()
    assert abs(cy - 14) < 0.6 and abs(cx - 14) < 0.6  # centred by its centre of mass
    assert digit.box == (198, 18, 24, 164)  # the stroke plus its 2-pixel margin, in input pixels
    assert to_mnist(np.pad(np.ones((4, 4)), 10)).sum() > 0


def test_a_digit_in_two_strokes_is_one_digit_and_digits_read_left_to_right():
    gray = np.full((120, 400), 255, np.float32)
    gray[30:90, 40:46] = 0  # a five drawn in two strokes: body...
    gray[30:36, 46:80] = 0
    gray[60:66, 40:80] = 0
    gray[60:90, 74:80] = 0
    gray[84:90, 40:80] = 0
    gray[18:24, 48:90] = 0  # ... and its flag, a separate stroke above
    gray[30:90, 300:306] = 0  # a one at the right
    digits = find_digits(gray)
    assert len(digits) == 2
    assert digits[0].box[0] < digits[1].box[0]


def test_blank_images_have_no_ink(reader):
    white = png_bytes(Image.new("L", (100, 100), 255))
    black = png_bytes(Image.new("L", (100, 100), 0))
    clear = png_bytes(Image.new("RGBA", (100, 100), (0, 0, 0, 0)))
    faint = np.full((100, 100), 250, np.uint8)
    faint[40:60, 40:60] = 244  # a smudge, not ink
    for data in (white, black, clear, png_bytes(Image.fromarray(faint))):
        result = reader.read(data)
        assert result.number is None and result.rejected and "no ink" in result.reason
    assert not ink_map(np.full((10, 10), 128, np.float32)).any()


def test_the_rejection_rule_is_calibrated_on_validation_digits(reader, mnist):
    from digitlab.data.degrade import degraded_sets
    from digitlab.data.splits import train_val_split
    from digitlab.recognition.rejection import CALIBRATION_DEGRADED, REJECT_RATE

    config = reader.checkpoint.meta["train_config"]
    assert (config["val_size"], config["split_seed"], config["folds"]) == (5000, 0, None)
    _, val = train_val_split(mnist.train_labels, 5000, 0)
    images, labels = mnist.train_images[val], mnist.train_labels[val]
    # trained with non-digits: the validation digits clean and degraded, pooled
    sets = [images, *(degraded for degraded, _ in degraded_sets(images, labels, CALIBRATION_DEGRADED, 0).values())]
    assert len(sets) > 1
    scores = [torch.softmax(predict_logits(reader.checkpoint.model, x, reader.device), 1).max(1).values.numpy()
              for x in sets]
    pooled = np.concatenate(scores).astype(np.float64)
    # the threshold is their quantile (so not one of test digits, nor of clean digits alone)
    assert reader.threshold == pytest.approx(np.quantile(pooled, REJECT_RATE))
    assert (scores[0] < reader.threshold).mean() <= 0.01  # clean validation digits
    assert 0.005 <= (pooled < reader.threshold).mean() <= 0.011
    seven = png_bytes(Image.fromarray(mnist.test_images[0].numpy()))
    assert not reader.read(seven).rejected
    strict = dataclasses.replace(reader, threshold=1.01)  # nothing is that sure: every shape is doubtful
    result = strict.read(seven)
    assert result.rejected and "not a digit" in result.reason and result.number == "7"


@pytest.mark.parametrize("data, fragment", [
    (b"", "empty"),
    (b"GIF89a-not-really", "not a readable image"),
    (png_bytes(Image.new("L", (50, 50), 255))[:60], "damaged or truncated"),
    (png_bytes(Image.new("L", (5000, 10), 255)), "at most 4096x4096"),
])
def test_bad_images_are_named(data, fragment):
    with pytest.raises(ImageError, match=fragment):
        decode_image(data)
