"""The study's theory questions, answered by experiment.

divergences    KL, JS and Wasserstein between two parallel segments, estimated from samples
sequence_cost  generation cost of an LSTM and a Transformer (with and without a KV cache)
gan2d          a GAN Lab-style 2-D GAN: discriminator heat map, generator gradient field
ot             exact optimal transport between two equal-size point clouds (shared by the above)
answers        the divergence question's measured answers, in numbers and words
*_figure       each stage's figure
"""
