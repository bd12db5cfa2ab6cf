"""Mapping of a dataset (its tags and instrument) to a recipe and a primitive class."""

from recipe_system.mappers.dataset import dataset_signature, instrument_key
from recipe_system.mappers.primitive_mapper import PrimitiveMapper
from recipe_system.mappers.recipe_mapper import RecipeMapper, load_user_recipe

__all__ = ["PrimitiveMapper", "RecipeMapper", "dataset_signature", "instrument_key",
           "load_user_recipe"]
