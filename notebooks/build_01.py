import nbformat as nbf

nb = nbf.v4.new_notebook()
md, code = nbf.v4.new_markdown_cell, nbf.v4.new_code_cell
nb.cells = [
    md("# Volumes: label-efficient segmentation with partition-aware contrastive pre-training\n\n"
       "Chaitanya et al. (NeurIPS 2020): a global loss that treats slices from the same *relative "
       "position* (partition) of different volumes as related (G^D), plus a local loss on decoder "
       "feature maps (L^D). Here on subjects derived from nilearn's MNI152 template (no download), "
       "with tiny settings so it runs in a couple of minutes on a CPU."),
    code("import torch\ntorch.set_num_threads(2)\n"
         "from polyclr.modalities.volume.reference import generate_reference\n"
         "from polyclr.modalities.volume.io import load_volume\n"
         "data = generate_reference(n_subjects=8, seed=0)\n"
         "vol = load_volume(data / 'imagesTr' / 'subj_000.nii.gz')\n"
         "print(data, vol.array.shape, vol.spacing)"),
    md("## Partitions come from physical position\nEach axial slice gets its position along S "
       "(from the affine) scaled to [0, 1] over the volume; S partitions split that range."),
    code("import matplotlib.pyplot as plt\n"
         "from polyclr.modalities.volume.partitions import normalised_positions, partition_index\n"
         "pos = normalised_positions(vol.affine, vol.array.shape, axis=2)\n"
         "part = partition_index(pos, 4)\n"
         "fig, axes = plt.subplots(1, 4, figsize=(12, 3))\n"
         "for s, ax in enumerate(axes):\n"
         "    k = int(part.tolist().index(s) + (part == s).sum() // 2)\n"
         "    ax.imshow(vol.array[:, :, k].T, origin='lower', cmap='gray'); ax.set_title(f'partition {s}, z={k}'); ax.axis('off')\n"
         "plt.show()"),
    md("## Pre-train, fine-tune with 1 labelled volume, compare with random init\n"
       "The same code as `polyclr run volume --data DIR --out DIR` (tiny steps)."),
    code("import dataclasses, tempfile\nfrom pathlib import Path\n"
         "from polyclr.pipelines.volume import PIPELINE\n"
         "cfg = PIPELINE.demo_config()\n"
         "cfg = dataclasses.replace(cfg,\n"
         "    pretrain=dataclasses.replace(cfg.pretrain, strategies=['GD+LD'], global_steps=15, local_steps=10),\n"
         "    finetune=dataclasses.replace(cfg.finetune, labeled_volumes=[1], combinations=1, steps=15))\n"
         "out = Path(tempfile.mkdtemp())\n"
         "metrics = PIPELINE.run(cfg, data, out)\n"
         "for r in metrics['summary']:\n"
         "    print(r['method'], r['labeled_volumes'], round(r['dice_mean_mean'], 3))"),
    code("from polyclr.modalities.volume.io import load_label\n"
         "import numpy as np\n"
         "case = metrics['rows'][0]\n"
         "pred_dir = out / 'predictions' / 'GD+LD_K1'\n"
         "f = sorted(pred_dir.glob('*.nii.gz'))[0]\n"
         "img = load_volume(data / 'imagesTr' / f.name); lab = load_label(data / 'labelsTr' / f.name, img)\n"
         "pred = load_volume(f).array\n"
         "z = img.array.shape[2] // 2\n"
         "fig, ax = plt.subplots(1, 3, figsize=(10, 3.5))\n"
         "for a, (t, x) in zip(ax, [('image', img.array), ('label', lab), ('GD+LD prediction', pred)]):\n"
         "    a.imshow(x[:, :, z].T, origin='lower', cmap='gray' if t == 'image' else 'viridis'); a.set_title(t); a.axis('off')\n"
         "plt.show()"),
    md("With so few steps the numbers are noisy; `benchmarks/volume_label_efficiency.py` runs the "
       "full comparison (random, G^R, G^D−, G^D, G^D+L^D × 1 and 2 labelled volumes)."),
]
nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
nbf.write(nb, "notebooks/01_volume_label_efficiency.ipynb")
