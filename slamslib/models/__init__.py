"""The networks: backbones, the semantic encoder, the activation network, the CAM baseline."""
