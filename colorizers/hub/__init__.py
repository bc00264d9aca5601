"""Sharing models on the Hugging Face Hub: what a saved model folder holds (``model_folder``), its model card
(``model_card``, from the YAML sources in ``cards/``) and evaluation results (``eval_results``), the files a
repository needs for remote code (``remote_code``), the push itself (``publish``) and the shipped presets'
measured quality (``preset_quality``, JSON only)."""
