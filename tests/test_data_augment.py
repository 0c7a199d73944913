
import pytest
import torch
from torchvision.transforms.v2 import functional as TF

from cnnlib.data.augment import (Compose, ElasticDistort, HueShift, RandomAffine, adjust_hue, affine, elastic,
                                 hsv_to_rgb, random_displacement, rgb_to_hsv, rotate, zoom)
from cnnlib.data import Augment, DeviceLoader
from cnnlib.data.datasets import ImageDataset


def smooth_images(n=4, c=3, h=24, w=24, seed=0):
    """Random but smooth uint8 images (bilinear resampling differences stay small on them)."""
    g = torch.Generator().manual_seed(seed)
    coarse = torch.rand(n, c, h // 4, w // 4, generator=g)
    fine = torch.nn.functional.interpolate(coarse, size=(h, w), mode="bilinear", align_corners=False)
    return (fine * 255).round().to(torch.uint8)


def test_rotation_by_90_degrees_is_exact():
    x = smooth_images(h=16, w=16)
    assert torch.equal(affine(x, angle=90), torch.rot90(x, 1, dims=(2, 3)))
    assert torch.equal(affine(x, angle=90), TF.rotate(x, 90))
    assert torch.equal(affine(x, angle=-90), TF.rotate(x, -90))
    assert torch.equal(affine(x, angle=-90), TF.affine(x, angle=90, translate=[0, 0], scale=1.0, shear=[0.0, 0.0]))


def test_identity_parameters_change_nothing():
    x = smooth_images(h=20, w=28)
    assert torch.equal(affine(x), x)
    assert torch.equal(adjust_hue(x, 0.0), x)
    assert torch.equal(elastic(x, torch.zeros(4, 2, 20, 28)), x)
    assert torch.equal(ElasticDistort(alpha=0.0)(x, torch.Generator().manual_seed(0)), x)
    assert torch.equal(RandomAffine()(x, torch.Generator().manual_seed(0)), x)


def test_flip_composed_with_our_augments_matches_torchvision():
    # The flip itself lives in cnnlib.data.Augment; Compose must pass it through unchanged.
    x = smooth_images()
    g = torch.Generator().manual_seed(0)
    flipped = Compose(Augment(flip=True), HueShift(0.0))(x, g)
    for a, b in zip(flipped, x):
        assert torch.equal(a, b) or torch.equal(a, TF.horizontal_flip(b))


@pytest.mark.parametrize("params", [
    dict(angle=30.0, translate=(0.0, 0.0), scale=1.0, shear=(0.0, 0.0)),
    dict(angle=-12.0, translate=(2.0, -3.0), scale=1.2, shear=(0.0, 0.0)),
    dict(angle=0.0, translate=(0.0, 0.0), scale=0.8, shear=(10.0, 0.0)),
    dict(angle=20.0, translate=(1.0, 1.0), scale=1.1, shear=(-8.0, 5.0)),
])
def test_affine_matches_torchvision(params):
    x = smooth_images(h=24, w=32)
    ours = affine(x, **params).int()
    theirs = TF.affine(x, angle=-params["angle"], translate=list(params["translate"]), scale=params["scale"],
                       shear=list(params["shear"]), interpolation=TF.InterpolationMode.BILINEAR).int()
    # torchvision multiplies the border pixels (partly outside) by the coverage again; inside they agree.
    inside = affine(torch.full_like(x, 255), **params) == 255
    assert (ours - theirs)[inside].abs().max() <= 1
    assert (ours - theirs).abs().float().mean() < 1.5


def test_per_image_parameters():
    x = smooth_images(n=3, h=16, w=16)
    out = affine(x, angle=torch.tensor([0.0, 90.0, 180.0]))
    assert torch.equal(out[0], x[0])
    assert torch.equal(out[1], torch.rot90(x[1], 1, dims=(1, 2)))
    assert torch.equal(out[2], torch.rot90(x[2], 2, dims=(1, 2)))
    with pytest.raises(ValueError):
        affine(x, angle=[1.0, 2.0])


def test_hsv_round_trip_and_torchvision_hue():
    x = smooth_images(n=6, h=16, w=16, seed=3)
    rgb = x.float() / 255
    assert torch.allclose(hsv_to_rgb(rgb_to_hsv(rgb)), rgb, atol=1e-5)
    # against torchvision's own (private) conversion
    from torchvision.transforms.v2.functional._color import _rgb_to_hsv
    assert torch.allclose(rgb_to_hsv(rgb), _rgb_to_hsv(rgb), atol=1e-5)
    for shift in (0.1, -0.25, 0.5):
        theirs = TF.adjust_hue(x, shift).int()
        assert (adjust_hue(x, shift).int() - theirs).abs().max() <= 1
    grey = x[:, :1].expand(-1, 3, -1, -1).contiguous()
    assert torch.equal(adjust_hue(grey, 0.3), grey)
    with pytest.raises(ValueError):
        adjust_hue(x[:, :1], 0.1)


def test_hue_shift_by_a_third_cycles_pure_colours():
    red = torch.zeros(1, 3, 2, 2, dtype=torch.uint8)
    red[:, 0] = 255
    assert torch.equal(adjust_hue(red, 1 / 3), red.roll(1, dims=1))  # red -> green


def test_zoom_in_by_2_magnifies_the_centre():
    x = torch.zeros(1, 1, 16, 16, dtype=torch.uint8)
    x[:, :, 6:10, 6:10] = 200  # a 4x4 square in the middle
    out = affine(x, scale=2.0)
    assert (out > 100).sum() == 64  # an 8x8 square
    out = affine(x, scale=0.5)
    assert (out > 0).sum() <= 16 and out.max() > 0


def test_random_augments_are_repeatable_and_keep_dtype_and_shape():
    x = smooth_images(n=8)
    for augment in (zoom(0.8, 1.2), rotate(20), RandomAffine(10, (0.9, 1.1), 5, 0.1), ElasticDistort(2.0, 3.0),
                    HueShift(0.2), Compose(Augment(translate=2, flip=True), HueShift(0.1), rotate(10))):
        a = augment(x, torch.Generator().manual_seed(5))
        b = augment(x, torch.Generator().manual_seed(5))
        c = augment(x, torch.Generator().manual_seed(6))
        assert a.dtype == torch.uint8 and a.shape == x.shape
        assert torch.equal(a, b) and not torch.equal(a, c)


def test_elastic_displacement_has_the_requested_size():
    x = torch.arange(32, dtype=torch.float32).expand(1, 1, 32, 32).mul(8).clamp(max=255).to(torch.uint8)
    shifted = elastic(x, torch.full((1, 2, 32, 32), 1.0))  # read one pixel to the right
    assert torch.equal(shifted[..., 2:28, 2:28], x[..., 3:29, 3:29])  # dx = dy = 1: read down-right


def test_augments_plug_into_the_device_loader():
    x = smooth_images(n=10)
    data = ImageDataset(images=x, labels=torch.arange(10), classes=[str(i) for i in range(10)], name="toy", split="train")
    loader = DeviceLoader(data, 5, augment=Compose(HueShift(0.3), rotate(30)), device="cpu")
    batches = list(loader)
    plain = list(DeviceLoader(data, 5, device="cpu"))
    assert len(batches) == 2 and batches[0][0].shape == (5, 3, 24, 24)
    assert not torch.allclose(batches[0][0], plain[0][0])


def test_elastic_matches_torchvision_with_the_same_field():
    x = smooth_images(n=2, h=20, w=28)
    field = random_displacement(2, 20, 28, alpha=2.0, sigma=3.0, generator=torch.Generator().manual_seed(0))
    assert torch.allclose(field.std(dim=(2, 3)), torch.full((2, 2), 2.0), atol=1e-4)
    for i in range(2):
        # torchvision wants (1, H, W, 2) in [-1, 1] grid units
        grid_units = (field[i] * torch.tensor([2 / 28, 2 / 20]).view(2, 1, 1)).permute(1, 2, 0)[None]
        theirs = TF.elastic(x[i], grid_units, interpolation=TF.InterpolationMode.BILINEAR).int()
        ours = elastic(x[i:i + 1], field[i:i + 1])[0].int()
        inside = elastic(torch.full_like(x[i:i + 1], 255), field[i:i + 1])[0] == 255
        assert (ours - theirs)[inside].abs().max() <= 1


@pytest.mark.parametrize("make, message", [
    (lambda: Augment(translate=-2), "translate is the largest shift in pixels"),
    (lambda: Augment(translate=1.5), "a whole number"),
    (lambda: ElasticDistort(sigma=0), r"sigma=0\): sigma must be a finite number > 0"),
    (lambda: ElasticDistort(alpha=-1.0), "alpha"),
    (lambda: HueShift(0.7), r"in \[0, 0.5\]"),
    (lambda: RandomAffine(scale=(1.2, 0.8)), "0 < low <= high"),
])
def test_impossible_settings_are_clear_errors(make, message):
    x = smooth_images()
    with pytest.raises(ValueError, match=message):
        make()(x, torch.Generator().manual_seed(0))


@pytest.mark.parametrize("make, argument", [
    # Each of these was accepted and turned every image black (or NaN), and training went on.
    (lambda: RandomAffine(degrees=float("nan")), "degrees"),
    (lambda: RandomAffine(degrees=float("inf")), "degrees"),
    (lambda: rotate(float("nan")), "degrees"),
    (lambda: RandomAffine(degrees=400), "degrees"),
    (lambda: RandomAffine(scale=(0.8, float("inf"))), "scale"),
    (lambda: RandomAffine(shear=float("nan")), "shear"),
    (lambda: RandomAffine(translate=float("nan")), "translate"),
    (lambda: ElasticDistort(alpha=float("inf")), "alpha"),
    (lambda: ElasticDistort(alpha=float("nan")), "alpha"),
    (lambda: ElasticDistort(sigma=float("inf")), "sigma"),
    (lambda: HueShift(float("nan")), "max_shift"),
    (lambda: RandomAffine(degrees="15"), "degrees"),
])
def test_non_finite_or_out_of_range_arguments_are_refused_when_made(make, argument):
    with pytest.raises(ValueError, match=rf"\({argument}=.*\): {argument} must be a finite number"):
        make()


def test_a_zoom_that_is_not_a_pair_is_a_clear_error():
    # RandomAffine(scale=1.2) used to fail with a raw "cannot unpack non-iterable float object".
    with pytest.raises(ValueError, match=r"RandomAffine\(scale=1.2\): scale is a zoom range \(low, high\)"):
        RandomAffine(scale=1.2)
    with pytest.raises(ValueError, match="scale is a zoom range"):
        RandomAffine(scale=(0.8, 1.0, 1.2))


def test_numpy_numbers_are_stored_as_plain_python_numbers():
    np = pytest.importorskip("numpy")
    affine_ = RandomAffine(degrees=np.float64(10), scale=[np.float32(0.5), 1])
    assert type(affine_.degrees) is float and affine_.scale == (0.5, 1.0)
    assert type(Augment(translate=np.int64(2)).translate) is int


def test_the_functional_api_refuses_non_finite_parameters():
    x = smooth_images()
    with pytest.raises(ValueError, match="angle must be finite"):
        affine(x, angle=float("nan"))
    with pytest.raises(ValueError, match="shift must be finite"):
        adjust_hue(x, torch.tensor([0.1, float("inf"), 0.0, 0.0]))
    with pytest.raises(ValueError, match="alpha=inf"):
        random_displacement(1, 24, 24, alpha=float("inf"), sigma=3.0, generator=torch.Generator())


def test_an_elastic_displacement_larger_than_the_images_is_a_clear_error():
    x = smooth_images(h=24, w=24)
    with pytest.raises(ValueError, match="alpha=1000.0 moves pixels.*these 24x24 images"):
        ElasticDistort(alpha=1000.0)(x, torch.Generator().manual_seed(0))


def test_float_images_are_an_error_not_a_black_image():
    x = smooth_images().float() / 255  # [0, 1]: read as uint8 this would be almost black
    for augment in (HueShift(0.1), rotate(10), ElasticDistort(), Augment(translate=2)):
        with pytest.raises(ValueError, match="expects a uint8 batch"):
            augment(x, torch.Generator().manual_seed(0))
    with pytest.raises(ValueError, match="uint8"):
        adjust_hue(x, 0.1)


def test_elastic_distortion_of_images_smaller_than_its_kernel_is_a_clear_error():
    x = smooth_images(h=8, w=8)  # sigma 3: a kernel of radius 9
    with pytest.raises(ValueError, match="radius 9 pixels.*these are 8x8.*smaller sigma"):
        ElasticDistort(sigma=3.0)(x, torch.Generator().manual_seed(0))
    assert ElasticDistort(sigma=2.0)(x, torch.Generator().manual_seed(0)).shape == x.shape


def test_padding_is_declared_and_composed():
    assert Augment(translate=3).padding == 3 and HueShift().padding == 0
    assert Compose(Augment(translate=4, flip=True), HueShift(0.1)).padding == 4
    assert Compose(Compose(Augment(translate=2)), rotate(5)).padding == 2
    assert Compose(HueShift(0.1), Augment(translate=2)).padding == 0  # a later shift pads itself
    x = smooth_images()
    for augment in (Compose(Augment(translate=4, flip=True), HueShift(0.1)), Compose(HueShift(0.1), Augment(translate=2))):
        padded = torch.nn.functional.pad(x, (augment.padding,) * 4)
        assert torch.equal(augment.apply(padded, torch.Generator().manual_seed(3)),
                           augment(x, torch.Generator().manual_seed(3)))

