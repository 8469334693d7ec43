"""Puts each image of a simple-CSV labeled set in a canvas FACTOR times its size (a dimmed,
enlarged copy of itself around it) and shifts the labels to match, so the subject fills less of
the frame: how a model trained on tight crops copes with looser photos.

    awk -F, 'NR == 1 || $4 == "val"' ../shared/data/lspet/derived/lspet_joints_first7000.csv > val.csv
    python3 Scripts/pad_labeled_images.py val.csv ../shared/data/lspet 1.5 padded1.5
    keypoints eval --labels padded1.5/labels.csv --model human

Needs Pillow. The output folder gets the padded images and labels.csv.
"""
import csv
import os
import sys

from PIL import Image


def main():
    labels, root, factor, out = sys.argv[1], sys.argv[2], float(sys.argv[3]), sys.argv[4]
    os.makedirs(out, exist_ok=True)
    rows = list(csv.reader(open(labels)))
    header = rows[0]
    writer = csv.writer(open(os.path.join(out, "labels.csv"), "w", newline=""))
    writer.writerow(header)
    for row in rows[1:]:
        image = Image.open(os.path.join(root, row[0])).convert("RGB")
        width, height = image.size
        canvas_width, canvas_height = int(width * factor), int(height * factor)
        left, top = (canvas_width - width) // 2, (canvas_height - height) // 2
        canvas = image.resize((canvas_width, canvas_height), Image.BILINEAR).point(lambda v: v // 2 + 64)
        canvas.paste(image, (left, top))
        name = os.path.basename(row[0])
        canvas.save(os.path.join(out, name))
        shifted = [name]
        for column, cell in zip(header[1:], row[1:]):
            if column == "width":
                cell = str(canvas_width)
            elif column == "height":
                cell = str(canvas_height)
            elif column.endswith("_x") and cell != "":
                cell = str(float(cell) + left)
            elif column.endswith("_y") and cell != "":
                cell = str(float(cell) + top)
            shifted.append(cell)
        writer.writerow(shifted)


main()
