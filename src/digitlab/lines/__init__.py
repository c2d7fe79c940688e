"""A line reader: a network that reads a group of touching digits as a whole, left to right.

The splitter (recognition/segment.py) reads touching digits by cutting the ink and
classifying each candidate span; it fails where digits overlap so much that no cut
separates them. The line reader needs no cuts: a convolutional network runs over the
group's ink normalized to a fixed height, gives a distribution over "blank" and the ten
digits for every few columns, and is trained with CTC (connectionist temporal
classification; Graves et al. 2006) on groups of generated numbers (data/numbers.py)
made from MNIST training digits. Its reading keeps, for each digit, the columns where
the network saw it, so each digit keeps its box.

examples.py  the groups of generated numbers and their true strings, as the reader sees them
model.py     the network and its greedy CTC decoding
train.py     training, and the checkpoint (the one checkpoint format: model.json + safetensors)
reader.py    reading stroke groups with a trained line reader
"""
