"""What happens to an image around the model, below the pipeline: the image processor's validated settings
(``processor_settings``), resizing the prediction back to the photo (``upsampling``), user hints as model input
(``hints``) and their edge-aware spreading (``hint_locality``). Nothing here loads a model or touches files."""
