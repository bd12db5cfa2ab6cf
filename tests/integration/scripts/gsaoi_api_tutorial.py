# ruff: noqa: E402, I001, UP010
# The GSAOI imaging tutorial, "Reduction using API" chapter, lines 1-46 as
# printed (seed 003), up to the sky-subtracted science frames. The disco_stu
# stacking that follows in the tutorial (lines 46-77) is an external package;
# the last four lines stack with astroreduce's alignAndStack recipe instead.
# Run from a "playground" directory next to "playdata", with
# ~/.geminidr/rsys.cfg naming the calibration database; nothing else changed.
import glob

from gempy.adlibrary import dataselect
from recipe_system import cal_service
from recipe_system.reduction.coreReduce import Reduce

from gempy.utils import logutils
logutils.config(file_name='gsaoi_data_reduction.log')

caldb = cal_service.CalibrationService()
caldb.config()
caldb.init()

cal_service.set_calservice()

all_files = glob.glob('../playdata/*.fits')
all_files.sort()

list_of_flats_Ks = dataselect.select_data(
     all_files,
     ['FLAT'],
     [],
     dataselect.expr_parser('filter_name=="Kshort"')
)

list_of_std_stars = dataselect.select_data(
    all_files,
    [],
    [],
    dataselect.expr_parser('observation_class=="partnerCal"')
)

list_of_science_images = dataselect.select_data(
    all_files,
    [],
    [],
    dataselect.expr_parser('(observation_class=="science" and exposure_time==60.)')
)

reduce_flats = Reduce()
reduce_flats.files.extend(list_of_flats_Ks)
reduce_flats.runr()

caldb.add_cal(reduce_flats.output_filenames[0])

reduce_std = Reduce()
reduce_std.files.extend(list_of_std_stars)
reduce_std.runr()

reduce_target = Reduce()
reduce_target.files.extend(list_of_science_images)
reduce_target.uparms.append(('skyCorrect:offset_sky', False))
reduce_target.runr()

reduce_stack = Reduce()
reduce_stack.files.extend(reduce_target.output_filenames)
reduce_stack.recipename = 'alignAndStack'
reduce_stack.runr()
