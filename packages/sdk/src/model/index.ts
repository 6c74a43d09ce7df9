/** The Stratus resource model (re-exported from @stratus/model). */
export * from '@stratus/model';
