# ruff: noqa: E402, I001, UP010
# The F2 imaging tutorial, "Reduction using API" chapter, lines 1-62 as printed
# (seed 001). Run from a "playground" directory next to "playdata", with
# ~/.geminidr/rsys.cfg naming the calibration database; nothing else changed.
from __future__ import print_function

import glob

from gempy.adlibrary import dataselect
from recipe_system import cal_service
from recipe_system.reduction.coreReduce import Reduce

from gempy.utils import logutils
logutils.config(file_name='f2_data_reduction.log')

caldb = cal_service.CalibrationService()
caldb.config()
caldb.init()

cal_service.set_calservice()

all_files = glob.glob('../playdata/*.fits')
all_files.sort()

dark_files_120s = dataselect.select_data(
    all_files,
    ['F2', 'DARK', 'RAW'],
    [],
    dataselect.expr_parser('exposure_time==120')
)

dark_files_2s = dataselect.select_data(
    all_files,
    ['F2', 'DARK', 'RAW'],
    [],
    dataselect.expr_parser('exposure_time==2')
)

list_of_flats_Y = dataselect.select_data(
    all_files,
    ['FLAT'],
    [],
    dataselect.expr_parser('filter_name=="Y"')
)

list_of_science_images = dataselect.select_data(
    all_files,
    ['F2'],
    [],
    dataselect.expr_parser('(observation_class=="science" and filter_name=="Y")')
)

reduce_darks = Reduce()
reduce_darks.files.extend(dark_files_120s)
reduce_darks.runr()

caldb.add_cal(reduce_darks.output_filenames[0])

reduce_bpm = Reduce()
reduce_bpm.files.extend(list_of_flats_Y)
reduce_bpm.files.extend(dark_files_2s)
reduce_bpm.recipename = 'makeProcessedBPM'
reduce_bpm.runr()

bpm_filename = reduce_bpm.output_filenames[0]

reduce_flats = Reduce()
reduce_flats.files.extend(list_of_flats_Y)
reduce_flats.uparms = [('addDQ:user_bpm', bpm_filename)]
reduce_flats.runr()

caldb.add_cal(reduce_flats.output_filenames[0])

reduce_target = Reduce()
reduce_target.files.extend(list_of_science_images)
reduce_target.uparms = [('addDQ:user_bpm', bpm_filename)]
reduce_target.runr()
